"""Optimizers for many models at once: state and update, per-model learning rates and hyperparameters,
row-sparse gradients, weight decay.

An optimizer (built by :func:`optimizer` with the pack's :class:`Hyper`) provides
    init(st)                                   its state: {param name: {slot: tensor}} (empty for SGD)
    update(st, state, dense, rows, lr, step)   θ ← θ − (its step) for every model, in place
where ``dense`` maps a parameter to a gradient of its shape, ``rows`` maps a parameter to row gradients
(flat rows m·N + j into ``param.view(n_models·N, width)`` and their values, rows may repeat; see
:func:`supdyn.model.step_grads`), ``lr`` is (n_models,) (zero for a frozen model) and ``step`` the
0-d step count (a tensor, so that the update has no host sync and can be captured in a CUDA graph).
Non-finite gradient entries are zeroed first (a diverging model is frozen by the caller).
Both training engines call the same update. A new optimizer is a class here, registered in
:data:`OPTIMIZERS`, and its name in ``supdyn.config.OPTIMIZERS``.

Adam and AdamW are exact on row-sparse gradients: a feature absent from a batch has a zero gradient,
and Adam still decays both moments of its rows and moves them by lr · m̂ / (√v̂ + ε) at every step, as
``torch.optim.Adam`` does on the dense model. The row gradients are therefore scattered into a dense
gradient and every row is updated every step (O(N·K) per model and step, the size of the parameter).
Lazy moments (update only the rows present, as ``torch.optim.SparseAdam``) would be cheaper but
another algorithm: a rare feature's momentum would stop decaying while it is absent and its
bias correction would count the wrong steps, so curves would not match Adam's.

Weight decay (:func:`penalty`): r(θ) = wd · θ for wd ≥ 0, and for wd < 0 on an embedding the signed
form −wd · θ_j (1 − 1/(‖θ_j‖ + 1e-8)) per feature vector θ_j (Liu, Liu & Gore 2025: norms pulled to 1).
SGD and AdamW apply it decoupled, θ ← θ − lr · r(θ) before the gradient step (for SGD the same as an
L2 term); Adam adds it to the gradient (L2), as ``torch.optim.Adam(weight_decay=...)`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from supdyn.config import RunConfig
from supdyn.model import Student

Dense = dict[str, torch.Tensor]
Rows = dict[str, tuple[torch.Tensor, torch.Tensor]]
State = dict[str, dict[str, torch.Tensor]]

EMBEDDINGS = {"encT": 2, "WT": 2, "dec": 1}
"""Learned-embedding parameters (decayed by ``weight_decay``) → the axis of a feature's vector."""
B_NAMES = ("B", "BT")
"""Parameters decayed by ``weight_decay_B``. Biases never decay."""
NORM_EPS = 1e-8
"""Added to a feature vector's norm in the signed weight decay (as their code adds Adam's ε)."""


def _per_model(lr: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """lr (n_models,) viewed to broadcast against g (n_models, ...)."""
    return lr.view(-1, *([1] * (g.dim() - 1)))


@dataclass
class Hyper:
    """Per-model hyperparameters of a pack, (n_models,) tensors on the device. A weight decay is None
    when it is zero for every model of the pack (nothing to compute)."""

    weight_decay: torch.Tensor | None = None
    weight_decay_B: torch.Tensor | None = None
    beta1: torch.Tensor | None = None
    beta2: torch.Tensor | None = None
    eps: torch.Tensor | None = None

    @staticmethod
    def of(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> "Hyper":
        def col(name: str, dt: torch.dtype = dtype, skip_zero: bool = False) -> torch.Tensor | None:
            vals = [getattr(c.train, name) for c in configs]
            if skip_zero and not any(vals):
                return None
            return torch.tensor(vals, dtype=dt, device=device)

        return Hyper(col("weight_decay", skip_zero=True), col("weight_decay_B", skip_zero=True),
                     col("beta1", torch.float64), col("beta2", torch.float64), col("eps"))


def penalty(name: str, p: torch.Tensor, hyper: Hyper) -> torch.Tensor | None:
    """r(θ) of parameter ``name`` (see the module docstring), or None when it does not decay."""
    if name in B_NAMES and hyper.weight_decay_B is not None:
        return p * _per_model(hyper.weight_decay_B, p)
    if name not in EMBEDDINGS or hyper.weight_decay is None:
        return None
    wd = _per_model(hyper.weight_decay, p)
    norm = torch.linalg.vector_norm(p, dim=EMBEDDINGS[name], keepdim=True)
    pull = p * (1.0 - 1.0 / (norm + NORM_EPS))  # ∂/∂θ_j of ½ (‖θ_j‖ − 1)²
    return torch.where(wd >= 0, p * wd, pull * (-wd))


def _clean(dense: Dense, rows: Rows) -> None:
    for g in [*dense.values(), *(v for _, v in rows.values())]:
        g.nan_to_num_(0.0, 0.0, 0.0)


def _decay(st: Student, hyper: Hyper, lr: torch.Tensor) -> None:
    """Decoupled weight decay θ ← θ − lr · r(θ) (every decayed parameter, every row)."""
    for name, p in st.params.items():
        r = penalty(name, p, hyper)
        if r is not None:
            p.sub_(r.mul_(_per_model(lr, r)))


class Optimizer:
    """The interface (see the module docstring); ``hyper``: the pack's per-model hyperparameters."""

    name = ""

    def __init__(self, hyper: Hyper | None = None) -> None:
        self.hyper = hyper or Hyper()

    def init(self, st: Student) -> State:
        return {}

    def update(self, st: Student, state: State, dense: Dense, rows: Rows, lr: torch.Tensor,
               step: torch.Tensor) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """θ ← θ − lr_m g (the paper's online SGD). Row gradients change only their rows; a weight decay,
    when set, acts on every row first (decoupled, the same as L2 for SGD)."""

    name = "sgd"

    def update(self, st: Student, state: State, dense: Dense, rows: Rows, lr: torch.Tensor,
               step: torch.Tensor) -> None:
        _clean(dense, rows)
        _decay(st, self.hyper, lr)
        for name, g in dense.items():
            st.params[name].sub_(g.mul_(_per_model(lr, g)))
        for name, (idx, val) in rows.items():
            p = st.params[name]
            flat = p.view(p.shape[0] * p.shape[1], p.shape[2])  # (n_models·N, width)
            lr_rows = lr[torch.div(idx, p.shape[1], rounding_mode="floor")]  # (n_rows,)
            flat.index_add_(0, idx, val.mul_(lr_rows[:, None]), alpha=-1)


class Adam(Optimizer):
    """Adam (Kingma & Ba; as ``torch.optim.Adam``) per model, exact on row-sparse gradients; weight decay
    as an L2 term of the gradient."""

    name = "adam"
    decoupled = False

    def init(self, st: Student) -> State:
        return {name: {"m": torch.zeros_like(p), "v": torch.zeros_like(p)} for name, p in st.params.items()}

    def update(self, st: Student, state: State, dense: Dense, rows: Rows, lr: torch.Tensor,
               step: torch.Tensor) -> None:
        _clean(dense, rows)
        grads = dict(dense)
        for name, (idx, val) in rows.items():  # exact: every row of the parameter is updated
            p = st.params[name]
            full = torch.zeros(p.shape[0] * p.shape[1], p.shape[2], dtype=p.dtype, device=p.device)
            grads[name] = full.index_add_(0, idx, val).view(p.shape)
        h = self.hyper
        if self.decoupled:
            _decay(st, h, lr)
        t = (step + 1).to(torch.float64)
        bc1 = 1.0 - h.beta1 ** t  # (n_models,) float64
        bc2 = 1.0 - h.beta2 ** t
        dt = lr.dtype
        step_size = lr / bc1.to(dt)  # (n_models,)
        root_bc2, b1, b2 = bc2.sqrt().to(dt), (1.0 - h.beta1).to(dt), h.beta2.to(dt)
        for name, g in grads.items():
            p, slot = st.params[name], state[name]
            if not self.decoupled:
                r = penalty(name, p, h)
                if r is not None:
                    g = g + r
            m, v = slot["m"], slot["v"]
            m.lerp_(g, _per_model(b1, g))
            v.mul_(_per_model(b2, v)).addcmul_(g * _per_model(1.0 - b2, g), g)
            denom = (v.sqrt() / _per_model(root_bc2, v)).add_(_per_model(h.eps, v))
            p.sub_(m / denom * _per_model(step_size, p))


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter; as ``torch.optim.AdamW``): Adam with decoupled weight decay, and the
    signed form for wd < 0 on embeddings."""

    name = "adamw"
    decoupled = True


OPTIMIZERS: dict[str, type[Optimizer]] = {o.name: o for o in (SGD, Adam, AdamW)}


def optimizer(name: str, hyper: Hyper | None = None) -> Optimizer:
    """The optimizer registered as ``name``, for a pack with hyperparameters ``hyper``."""
    if hyper is None and name != "sgd":
        raise ValueError(f"optimizer: {name!r} needs the pack's hyperparameters; allowed: optimizer(name, Hyper.of(...))")
    return OPTIMIZERS[name](hyper)
