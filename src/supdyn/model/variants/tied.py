"""The tied-embedding student y = ReLU(Wᵀ W x + b), W ∈ R^{K×N} learned, no B (variant ``tied``): the
student of the toy models of superposition and of Liu, Liu & Gore 2025.

Parameter ``WT`` (n_models, N, K) holds Wᵀ: row j is feature j's embedding vector w_j, so that
h = W x = Σ_j x_j w_j and y_i = ReLU(w_i · h + b_i). With G = (y − y*) ⊙ ReLU'(pre) (one row per sample),
    ∂L/∂b = Σ_s g_s / batch,
    ∂L/∂w_i = Σ_s g_si h_s / batch  (decoder side, every i)  +  Σ_s x_si W g_s / batch  (encoder side,
    the active features only),
so the gradient of ``WT`` is dense (returned as a dense gradient, the encoder rows scattered into it).
The empty samples (x = 0, h = 0) have y = ReLU(b) and add only to the loss and the bias gradient, in
closed form as for the other students. The CPU step gathers the active features' rows and uses a
gather forward (pre = X M_U + b with M_U = W_Uᵀ W, U×N) when U ≤ R, else H = X W_Uᵀ then H W.
"""

from __future__ import annotations

import torch

from supdyn.config import VARIANT_TABLE
from supdyn.data.static_sampler import StaticBatches
from supdyn.model.sparse import Compact, error_in_place, static_bias_grad, static_error_in_place, weighted
from supdyn.model.student import Student


def forward(st: Student, cx: Compact) -> dict[str, torch.Tensor]:
    """``pre`` (n_models·R, N) = Wᵀ W x + b for the compact rows, and ``h`` (n_models, R, K) = W x."""
    m, n, k, R, U = st.n_models, st.n_features, st.d_hidden, cx.R, cx.U
    wt = st.params["WT"]  # (n_models, N, K)
    e = wt.reshape(m * n, k).index_select(0, cx.ucol).view(m, U, k)  # (n_models, U, K): rows w_j
    h = (cx.x @ e.view(m * U, k)).view(m, R, k)  # (n_models, R, K)
    if U <= R:
        st.stats["gather_forward"] += 1
        mu = torch.bmm(e, wt.transpose(1, 2))  # (n_models, U, N): rows (Wᵀ w_j)ᵀ
        pre = cx.x @ mu.view(m * U, n)  # (n_models·R, N)
    else:
        st.stats["dense_forward"] += 1
        pre = torch.bmm(h, wt.transpose(1, 2)).view(m * R, n)
    pre.view(m, R, n).add_(st.params["bias"][:, None, :])
    return {"pre": pre, "h": h}


def sparse_grads(st: Student, cx: Compact):
    """Batch loss (n_models,), dense gradients of ``WT`` and ``bias``, no row gradients."""
    m, n, k, bs, R = st.n_models, st.n_features, st.d_hidden, cx.batch, cx.R
    fw = forward(st, cx)
    g = fw["pre"]
    loss = error_in_place(st, cx, g).mul_(0.5 / bs)  # g now holds G, unscaled
    st.stats["dense_backward"] += 1
    g3 = g.view(m, R, n)
    wt = st.params["WT"]
    dw = torch.bmm(g3.transpose(1, 2), fw["h"])  # (n_models, N, K): decoder side Σ_s g_si h_s
    gz = torch.bmm(g3, wt).view(m * R, k)  # (n_models·R, K): rows (W g_s)ᵀ
    dw.view(m * n, k).index_add_(0, cx.ucol, cx.xt @ gz)  # encoder side, rows of the active features
    bias_grad = (g3.sum(1) + cx.n_rest * weighted(st, st.params["bias"].relu())).div_(bs)
    return loss, {"WT": dw.div_(bs), "bias": bias_grad}, {}


def static_grads(st: Student, x: StaticBatches, k: int, rows: int, batch: int):
    """The same in static shapes (see :func:`supdyn.model.static_grads`)."""
    m, n, kk = st.n_models, st.n_features, st.d_hidden
    feat, row, pos, val, tgt = x.feat[k], x.row[k], x.pos[k], x.value[k], x.target[k]
    wt = st.params["WT"]  # (n_models, N, K)
    h = torch.zeros(m * rows, kk, dtype=val.dtype, device=val.device)
    h.index_add_(0, row, wt.reshape(m * n, kk)[feat] * val[:, None])  # (n_models·rows, K) = W x
    h3 = h.view(m, rows, kk)
    g = torch.baddbmm(st.params["bias"][:, None, :], h3, wt.transpose(1, 2))  # (n_models, rows, N)
    loss = static_error_in_place(st, g, pos, tgt, batch)
    dw = torch.bmm(g.transpose(1, 2), h3)  # (n_models, N, K)
    gz = torch.bmm(g, wt).view(m * rows, kk)  # (n_models·rows, K): rows (W g_s)ᵀ
    dw.view(m * n, kk).index_add_(0, feat, gz[row] * val[:, None])  # padding entries carry value 0
    return loss, {"WT": dw.div_(batch), "bias": static_bias_grad(st, g, batch)}, {}


def linear_map(st: Student) -> torch.Tensor:
    """No closed form (a ReLU student)."""
    allowed = ", ".join(v.name for v in VARIANT_TABLE.values() if v.closed_form)
    raise ValueError(f"variant: {st.variant!r} has no closed-form loss; allowed: {allowed}")
