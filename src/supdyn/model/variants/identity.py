"""The student without superposition, y = B x with B ∈ R^{N×N} (variant ``none``, K = N, no ReLU or bias).

Parameter ``BT`` (n_models, N, N) holds Bᵀ, so that the column of B an active input feature j selects
is a row: y_s = Σ_j x_sj Bᵀ_j. With G = y − y* (one row per sample),
    L = ½ Σ_s ‖g_s‖² / batch,   ∂L/∂(row j of Bᵀ) = Σ_s x_sj g_s / batch,
updated as row gradients (only the rows of active features change). Its population loss is exact
(:func:`linear_map` is B itself).
"""

from __future__ import annotations

import torch

from supdyn.data.static_sampler import StaticBatches
from supdyn.model.sparse import Bags, Compact, error_in_place
from supdyn.model.student import Student


def forward(st: Student, cx: Compact) -> dict[str, torch.Tensor]:
    """``pre`` (n_models·R, N): the outputs of the compact rows."""
    m, n = st.n_models, st.n_features
    rows = st.params["BT"].reshape(m * n, n).index_select(0, cx.ucol)  # (n_models·U, N): Bᵀ rows
    return {"pre": cx.x @ rows}


def sparse_grads(st: Student, cx: Compact):
    """Batch loss (n_models,), no dense gradients, row gradients of ``BT`` (see the module docstring)."""
    bs = cx.batch
    g = forward(st, cx)["pre"]
    loss = error_in_place(st, cx, g).mul_(0.5 / bs)  # g now holds y − y*
    # rows Σ_s x_sj g_s / batch (1/batch folded into the bag weights)
    return loss, {}, {"BT": (cx.ucol, Bags(cx.xt.idx, cx.xt.off, cx.xt.val / bs) @ g)}


def static_grads(st: Student, x: StaticBatches, k: int, rows: int, batch: int):
    """The same in static shapes (see :func:`supdyn.model.static_grads`)."""
    m, n = st.n_models, st.n_features
    feat, row, pos, val, tgt = x.feat[k], x.row[k], x.pos[k], x.value[k], x.target[k]
    y = torch.zeros(m * rows, n, dtype=val.dtype, device=val.device)  # (n_models·rows, N)
    y.index_add_(0, row, st.params["BT"].view(m * n, n)[feat] * val[:, None])  # rows Σ_j x_sj Bᵀ_j
    y.view(-1).index_add_(0, pos, tgt, alpha=-1)  # G = y − y*
    w = st.weights
    if w is None:
        loss = torch.linalg.vector_norm(y.view(m, -1), dim=1).square_().mul_(0.5 / batch)
    else:  # ½ Σ w (y − y*)², then G ← w ⊙ G
        y3 = y.view(m, rows, n)
        loss = (y3.square() * w[:, None, :]).sum((1, 2)).mul_(0.5 / batch)
        y3.mul_(w[:, None, :])
    return loss, {}, {"BT": (feat, y[row] * (val / batch)[:, None])}  # (n_models·cap, N)


def linear_map(st: Student) -> torch.Tensor:
    """The student's N×N map M (y = M x), float64: (n_models, N, N)."""
    return st.params["BT"].transpose(1, 2).double()
