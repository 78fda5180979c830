"""The three sections of a run's configuration: data (frequency law, teacher), model (the student)
and train (optimizer, time, evaluation). Frozen dataclasses, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field

from supdyn.config.checks import (ADDED, CORRELATIONS, DTYPES, EVAL_MODES, IMPORTANCE, LAWS, NORMALIZATIONS,
                                  OPTIMIZERS, SCHEDULES, TEACHERS,
                                  VARIANTS, _choice, _fail, _finite, _float_tuple, _integer)


@dataclass(frozen=True)
class DataConfig:
    """Input features x_i = u_i v_i, u_i ~ Bernoulli(p_i), v_i ~ U(0, 1), and teacher y* = A x.

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

    def __post_init__(self) -> None:
        _integer("n_features", self.n_features, 1)
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
        for name in ("a", "b", "kappa", "density"):
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
        _integer("group_size", self.group_size, 2, self.n_features if self.n_features >= 2 else 2)
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
             ``auto``  ``none`` when K = N, else ``fixed``.
    init_scale: standard deviation of the i.i.d. Gaussian entries of B at t = 0 (bias starts at 0).
    """

    d_hidden: int = 256
    variant: str = "auto"
    init_scale: float = 1e-3

    def __post_init__(self) -> None:
        _integer("d_hidden", self.d_hidden, 1)
        _choice("variant", self.variant, VARIANTS)
        s = _finite("init_scale", self.init_scale)
        if s < 0:
            _fail("init_scale", self.init_scale, "init_scale >= 0")
        object.__setattr__(self, "init_scale", s)


@dataclass(frozen=True)
class TrainConfig:
    """Online SGD on L = ½ E‖y* − y‖² (summed over outputs, averaged over the batch).

    Every step draws a fresh batch. Time t = lr × steps; training stops at t_max.
    Evaluation happens at t = 0 and at ``eval_per_decade`` log-spaced times per decade from t = 1
    (rounded to whole steps), on a held-out set of ``eval_size`` samples fixed per run, or exactly
    (closed-form population loss) for the linear students when ``eval_mode`` is ``exact``/``auto``.
    ``dtype``: ``float32`` (default), ``float64``, or ``tf32`` (float32 parameters, TensorFloat-32 CUDA
    matmuls; the same as float32 on the CPU).
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

    def __post_init__(self) -> None:
        if _finite("lr", self.lr) <= 0:
            _fail("lr", self.lr, "lr > 0 (finite)")
        _integer("batch", self.batch, 1)
        if _finite("t_max", self.t_max) <= 0:
            _fail("t_max", self.t_max, "t_max > 0 (finite)")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _integer("eval_size", self.eval_size, 1)
        _integer("eval_per_decade", self.eval_per_decade, 1, 1000)
        _choice("eval_mode", self.eval_mode, EVAL_MODES)
        _choice("dtype", self.dtype, DTYPES)
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
        for name in ("lr", "t_max", "diverge_factor"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "snapshots", snaps)
