"""The three sections of a run's configuration: data (frequency law, teacher), model (the student)
and train (optimizer, time, evaluation). Frozen dataclasses, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field

from supdyn.config.checks import (ADDED, CORRELATIONS, DTYPES, EMBEDDING_INITS, EVAL_MODES, IMPORTANCE, LAWS,
                                  LOSS_REDUCTIONS, NORMALIZATIONS, OPTIMIZERS, SCHEDULES, TEACHERS, VARIANTS, _choice,
                                  _fail, _finite, _float_tuple, _integer, _is_int)


@dataclass(frozen=True)
class DataConfig:
    """Input features x_i = u_i v_i, u_i ~ Bernoulli(p_i), v_i ~ U(0, value_max), and teacher y* = A x.

    law:        ``power`` p_i ∝ i^-a (paper eq. 1), ``exponential`` p_i ∝ exp(-kappa i^a),
                ``algebraic`` p_i ∝ (N + 1 - i)^a (a = 1: the paper's linear law), ``user``: ``p``.
    normalize:  ``sum`` scales p so that Σ p_i = density (the paper's Sec. 2.1, default);
                ``none`` uses the law unnormalized (the paper's eq. 7 / Fig. 9 reading, p_1 = 1).
    teacher:    ``power`` A_ii = i^-b (paper eq. 2), ``user``: ``teacher_diag``.
    importance: weights w_i of the outputs in the loss L = ½ Σ_i w_i E(y*_i − y_i)² (not in the paper):
                ``uniform`` w_i = 1 (default), ``power`` w_i = i^-importance_exponent, ``user``:
                ``importance_diag``. Distinct from the teacher A.
    correlation: features in consecutive groups of ``group_size`` (not in the paper; every p_i is kept):
                ``none`` independent (default); ``cooccur``: each group has a group event with probability
                q = ``cooccur`` × min p over the group, which switches every member on, and each member
                also fires alone with the probability r_i that keeps P(u_i) = p_i (so the rarest member
                fires with the whole group with probability ``cooccur``); ``exclusive``: at most one
                member of a group is active (member i with probability p_i; needs Σ_group p ≤ 1).
                Values v_i stay independent U(0, 1).
    value_max:  c of v_i ~ U(0, c) (default 1, the paper's; 2 in Liu, Liu & Gore's runs).
    """

    n_features: int = 1024
    law: str = "power"
    a: float = 1.1
    b: float = 0.0
    kappa: float = 1.0
    density: float = 1.0
    normalize: str = "sum"
    p: tuple[float, ...] | None = None
    teacher: str = "power"
    teacher_diag: tuple[float, ...] | None = None
    importance: str = field(default="uniform", metadata=ADDED)
    importance_exponent: float = field(default=0.0, metadata=ADDED)
    importance_diag: tuple[float, ...] | None = field(default=None, metadata=ADDED)
    correlation: str = field(default="none", metadata=ADDED)
    group_size: int = field(default=2, metadata=ADDED)
    cooccur: float = field(default=0.5, metadata=ADDED)
    value_max: float = field(default=1.0, metadata=ADDED)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_features", _integer("n_features", self.n_features, 1))
        if _finite("value_max", self.value_max) <= 0:
            _fail("value_max", self.value_max, "value_max > 0 (finite)")
        _choice("law", self.law, LAWS)
        _choice("normalize", self.normalize, NORMALIZATIONS)
        _choice("teacher", self.teacher, TEACHERS)
        a = _finite("a", self.a)
        b = _finite("b", self.b)
        if b < 0:
            _fail("b", self.b, "b >= 0 (finite)")
        if self.law == "exponential" and a <= 0:
            _fail("a", self.a, "a > 0 for the exponential law")
        if _finite("kappa", self.kappa) <= 0:
            _fail("kappa", self.kappa, "kappa > 0")
        if not 0 < _finite("density", self.density):
            _fail("density", self.density, "density (E = sum p_i) > 0")
        for name in ("a", "b", "kappa", "density", "value_max"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "p", _float_tuple("p", self.p))
        object.__setattr__(self, "teacher_diag", _float_tuple("teacher_diag", self.teacher_diag))
        if self.law == "user":
            if self.p is None:
                _fail("p", None, f"a list of {self.n_features} frequencies in [0, 1] when law = 'user'")
            if len(self.p) != self.n_features:
                _fail("p", f"length {len(self.p)}", f"length n_features = {self.n_features}")
        elif self.p is not None:
            _fail("p", "a list", "no p unless law = 'user'")
        if self.teacher == "user":
            if self.teacher_diag is None or len(self.teacher_diag) != self.n_features:
                got = None if self.teacher_diag is None else f"length {len(self.teacher_diag)}"
                _fail("teacher_diag", got, f"a list of length n_features = {self.n_features}")
        elif self.teacher_diag is not None:
            _fail("teacher_diag", "a list", "no teacher_diag unless teacher = 'user'")
        _choice("importance", self.importance, IMPORTANCE)
        object.__setattr__(self, "importance_exponent", _finite("importance_exponent", self.importance_exponent))
        object.__setattr__(self, "importance_diag", _float_tuple("importance_diag", self.importance_diag))
        w = self.importance_diag
        if self.importance == "user":
            if w is None or len(w) != self.n_features:
                _fail("importance_diag", None if w is None else f"length {len(w)}",
                      f"a list of length n_features = {self.n_features}")
            if any(v < 0 for v in w) or not any(v > 0 for v in w):
                _fail("importance_diag", "negative or all-zero weights", "weights >= 0, not all 0")
        elif w is not None:
            _fail("importance_diag", "a list", "no importance_diag unless importance = 'user'")
        _choice("correlation", self.correlation, CORRELATIONS)
        object.__setattr__(self, "group_size", _integer("group_size", self.group_size, 2, max(2, self.n_features)))
        rho = _finite("cooccur", self.cooccur)
        if not 0.0 <= rho <= 1.0:
            _fail("cooccur", self.cooccur, "0 <= cooccur <= 1")
        object.__setattr__(self, "cooccur", rho)


@dataclass(frozen=True)
class ModelConfig:
    """Student. ``d_hidden`` is K (the paper's bottleneck width).

    variant: ``none``  y = B x, B ∈ R^{N×N} (no superposition, requires K = N);
             ``linear`` y = Wᵀ B W x (superposition without ReLU or bias; the paper's App. A.2);
             ``fixed`` y = ReLU(Wᵀ B W x + b), W fixed random (the paper's superposition student);
             ``learnable`` y = ReLU(D B E x + b), encoder E and decoder D learned, started from W, Wᵀ;
             ``tied``  y = ReLU(Wᵀ W x + b), W learned (no B; the toy models of superposition);
             ``auto``  ``none`` when K = N, else ``fixed``.
    init_scale: standard deviation of the i.i.d. Gaussian entries of B at t = 0.
    embedding_init: W at t = 0 (fixed or initial embedding): ``unit`` i.i.d. Gaussian columns scaled to
             unit norm (default), ``gaussian`` i.i.d. N(0, 1/K) entries (Liu, Liu & Gore's W ~ N(0, 1/m)).
    bias_init_scale: standard deviation of the i.i.d. Gaussian entries of b at t = 0 (default 0: b = 0;
             1 in Liu, Liu & Gore's runs).
    """

    d_hidden: int = 256
    variant: str = "auto"
    init_scale: float = 1e-3
    embedding_init: str = field(default="unit", metadata=ADDED)
    bias_init_scale: float = field(default=0.0, metadata=ADDED)

    def __post_init__(self) -> None:
        object.__setattr__(self, "d_hidden", _integer("d_hidden", self.d_hidden, 1))
        _choice("variant", self.variant, VARIANTS)
        _choice("embedding_init", self.embedding_init, EMBEDDING_INITS)
        for name in ("init_scale", "bias_init_scale"):
            s = _finite(name, getattr(self, name))
            if s < 0:
                _fail(name, getattr(self, name), f"{name} >= 0")
            object.__setattr__(self, name, s)


@dataclass(frozen=True)
class TrainConfig:
    """Online training on L = ½ E‖y* − y‖² (summed over outputs, averaged over the batch), or with
    ``loss_reduction = "mean"`` on E‖y* − y‖² / N (torch's MSELoss: the mean over outputs, no ½).

    Every step draws a fresh batch. Time is the integrated learning rate t = Σ_k lr_k over the steps
    taken (t = lr × steps at a constant rate). A run takes round(t_max / lr) steps, lr being the peak
    rate of the schedule, so a schedule that lowers the rate ends before t_max, at t_end = Σ_k lr_k.
    Evaluation happens at t = 0 and at ``eval_per_decade`` log-spaced times per decade from t = 1 to
    the end (each the nearest step), on a held-out set of ``eval_size`` samples fixed per run, or
    exactly (closed-form population loss) for the linear students when ``eval_mode`` is ``exact``/``auto``.
    ``dtype``: ``float32`` (default), ``float64``, or ``tf32`` (float32 parameters, TensorFloat-32 CUDA
    matmuls; the same as float32 on the CPU).

    optimizer: ``sgd`` (the paper's), ``adam`` (weight decay as an L2 term of the gradient) or ``adamw``
        (decoupled weight decay), with ``beta1``, ``beta2``, ``eps`` as in torch.optim.Adam.
    schedule: the rate of step k (k = 0, 1, …, s = k + 1, n = round(t_max / lr), W = ``warmup``) is
        lr · f(s), f(s) = s / W while s ≤ W (linear warm-up), then
        ``constant``: 1 (W = 0);  ``warmup``: 1 (W ≥ 1);
        ``cosine``: lr_final + (1 − lr_final) · ½ (1 + cos(π (s − W) / (n − W)))  (lr_final at the last step);
        ``step``: decay_factor^⌊(s − W) / decay_every⌋.
    weight_decay: on the learned embedding (E and D, or the tied W): ≥ 0 the usual decay (L2 penalty
        ½ wd ‖θ‖², decoupled for adamw); < 0 the signed form of Liu, Liu & Gore 2025, a pull of each
        feature's embedding vector towards unit norm, θ_j ← θ_j + lr · wd · θ_j (1 − 1/‖θ_j‖)
        (the penalty ½ |wd| Σ_j (‖θ_j‖ − 1)²): more superposition as wd goes from 1 down to −1.
    weight_decay_B: ≥ 0, the usual decay of B. Biases never decay.
    """

    lr: float = 1.0
    batch: int = 1024
    t_max: float = 1e4
    optimizer: str = "sgd"
    schedule: str = "constant"
    eval_size: int = 2**14
    eval_per_decade: int = 10
    eval_mode: str = "auto"
    per_feature: bool = False
    snapshots: tuple[float, ...] = ()
    diverge_factor: float = 1e3
    dtype: str = "float32"
    warmup: int = field(default=0, metadata=ADDED)
    lr_final: float = field(default=0.0, metadata=ADDED)
    decay_every: int = field(default=0, metadata=ADDED)
    decay_factor: float = field(default=0.1, metadata=ADDED)
    weight_decay: float = field(default=0.0, metadata=ADDED)
    weight_decay_B: float = field(default=0.0, metadata=ADDED)
    beta1: float = field(default=0.9, metadata=ADDED)
    beta2: float = field(default=0.999, metadata=ADDED)
    eps: float = field(default=1e-8, metadata=ADDED)
    loss_reduction: str = field(default="half_sum", metadata=ADDED)

    def __post_init__(self) -> None:
        if _finite("lr", self.lr) <= 0:
            _fail("lr", self.lr, "lr > 0 (finite)")
        object.__setattr__(self, "batch", _integer("batch", self.batch, 1))
        if _finite("t_max", self.t_max) <= 0:
            _fail("t_max", self.t_max, "t_max > 0 (finite)")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        object.__setattr__(self, "eval_size", _integer("eval_size", self.eval_size, 1))
        object.__setattr__(self, "eval_per_decade", _integer("eval_per_decade", self.eval_per_decade, 1, 1000))
        _choice("eval_mode", self.eval_mode, EVAL_MODES)
        _choice("dtype", self.dtype, DTYPES)
        _choice("loss_reduction", self.loss_reduction, LOSS_REDUCTIONS)
        if not isinstance(self.per_feature, bool):
            _fail("per_feature", self.per_feature, "true or false")
        if _finite("diverge_factor", self.diverge_factor) <= 1:
            _fail("diverge_factor", self.diverge_factor, "diverge_factor > 1")
        snaps = _float_tuple("snapshots", self.snapshots) or ()
        for i, s in enumerate(snaps):
            if not 0 <= s <= self.t_max:
                _fail(f"snapshots[{i}]", s, f"0 <= t <= t_max = {self.t_max:g}")
        if any(b <= a for a, b in zip(snaps, snaps[1:])):
            _fail("snapshots", snaps, "strictly increasing times")
        steps = self.t_max / self.lr
        if not (steps < 2**53 and round(steps) >= 1):  # round(t_max / lr) steps: one at least, t exact
            _fail("t_max / lr", steps, f"1 <= round(t_max / lr) <= 2^53 SGD steps (t = lr × steps; here "
                  f"t_max = {self.t_max:g}, lr = {self.lr:g})")
        self._check_schedule()
        self._check_optimizer()
        for name in ("warmup", "decay_every"):  # checked by the schedule (any integer where unused: its default)
            if _is_int(getattr(self, name)):
                object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("lr", "t_max", "diverge_factor", "lr_final", "decay_factor", "weight_decay", "weight_decay_B",
                     "beta1", "beta2", "eps"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "snapshots", snaps)

    def _unused(self, name: str, when: str) -> None:
        """A schedule or optimizer field set away from its default where nothing reads it."""
        default = type(self).__dataclass_fields__[name].default
        if getattr(self, name) != default:
            _fail(name, getattr(self, name), f"the default {default!r} unless {when}")

    def _check_schedule(self) -> None:
        n = int(round(self.t_max / self.lr))
        sched = self.schedule
        if sched == "constant":
            if self.warmup != 0:
                _fail("warmup", self.warmup, "0 with schedule 'constant' (schedule 'warmup': a linear warm-up, "
                      "then constant)")
        else:
            lo = 1 if sched == "warmup" else 0
            if not _is_int(self.warmup) or not lo <= self.warmup < n:
                _fail("warmup", self.warmup, f"an integer number of steps, {lo} <= warmup < round(t_max / lr) = {n}")
        if sched == "cosine":
            if not 0 <= _finite("lr_final", self.lr_final) <= 1:
                _fail("lr_final", self.lr_final, "0 <= lr_final <= 1 (a fraction of lr)")
        else:
            self._unused("lr_final", "schedule = 'cosine'")
        if sched == "step":
            if not _is_int(self.decay_every) or self.decay_every < 1:
                _fail("decay_every", self.decay_every, "an integer >= 1 (steps between decays) with schedule 'step'")
            if not 0 < _finite("decay_factor", self.decay_factor) <= 1:
                _fail("decay_factor", self.decay_factor, "0 < decay_factor <= 1")
        else:
            self._unused("decay_every", "schedule = 'step'")
            self._unused("decay_factor", "schedule = 'step'")

    def _check_optimizer(self) -> None:
        _finite("weight_decay", self.weight_decay)
        if _finite("weight_decay_B", self.weight_decay_B) < 0:
            _fail("weight_decay_B", self.weight_decay_B, "weight_decay_B >= 0 (the signed form acts on embeddings: "
                  "weight_decay)")
        if self.optimizer == "sgd":
            for name in ("beta1", "beta2", "eps"):
                self._unused(name, "optimizer is 'adam' or 'adamw'")
            return
        for name in ("beta1", "beta2"):
            if not 0 <= _finite(name, getattr(self, name)) < 1:
                _fail(name, getattr(self, name), f"0 <= {name} < 1")
        if _finite("eps", self.eps) <= 0:
            _fail("eps", self.eps, "eps > 0")
