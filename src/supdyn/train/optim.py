"""Optimizers for many models at once: state and update, per-model learning rates, row-sparse gradients.

An optimizer provides
    init(st)                                   its state: {param name: {slot: tensor}} (empty for SGD)
    update(st, state, dense, rows, lr, step)   θ ← θ − (its step) for every model, in place
where ``dense`` maps a parameter to a gradient of its shape, ``rows`` maps a parameter to row gradients
(flat rows m·N + j into ``param.view(n_models·N, width)`` and their values, rows may repeat; see
:func:`supdyn.model.step_grads`), ``lr`` is (n_models,) (zero for a frozen model) and ``step`` the
0-d step count (a tensor, so that the update has no host sync and can be captured in a CUDA graph).
Non-finite gradient entries are zeroed first (a diverging model is frozen by the caller).
Both training engines call the same update. A new optimizer is a class here, registered in
:data:`OPTIMIZERS`, and its name in ``supdyn.config.OPTIMIZERS``.
"""

from __future__ import annotations

import torch

from supdyn.model import Student

Dense = dict[str, torch.Tensor]
Rows = dict[str, tuple[torch.Tensor, torch.Tensor]]
State = dict[str, dict[str, torch.Tensor]]


def _per_model(lr: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """lr (n_models,) viewed to broadcast against g (n_models, ...)."""
    return lr.view(-1, *([1] * (g.dim() - 1)))


class SGD:
    """θ ← θ − lr_m g (the paper's online SGD; t = lr × steps). Row gradients change only their rows."""

    name = "sgd"

    def init(self, st: Student) -> State:
        return {}

    def update(self, st: Student, state: State, dense: Dense, rows: Rows, lr: torch.Tensor,
               step: torch.Tensor) -> None:
        for g in [*dense.values(), *(v for _, v in rows.values())]:
            g.nan_to_num_(0.0, 0.0, 0.0)
        for name, g in dense.items():
            st.params[name].sub_(g.mul_(_per_model(lr, g)))
        for name, (idx, val) in rows.items():
            p = st.params[name]
            flat = p.view(p.shape[0] * p.shape[1], p.shape[2])  # (n_models·N, width)
            lr_rows = lr[torch.div(idx, p.shape[1], rounding_mode="floor")]  # (n_rows,)
            flat.index_add_(0, idx, val.mul_(lr_rows[:, None]), alpha=-1)


Optimizer = SGD  # the interface every optimizer follows (init, update); SGD is its simplest member

OPTIMIZERS = {o.name: o for o in (SGD(),)}


def optimizer(name: str) -> Optimizer:
    """The optimizer registered as ``name``."""
    return OPTIMIZERS[name]
