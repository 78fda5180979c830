"""Students with an embedding: y = ReLU(D B E x + b) and its relatives (variants ``linear``, ``fixed``,
``learnable``; K = d_hidden < N). The variant table says which parts they have: a fixed W (E = D = W,
``fixed`` embedding) or a learned encoder E and decoder D started from W, and the ReLU with its bias.

With G = (y − y*) ⊙ ReLU'(pre) (one row per sample), the gradients are
    ∂L/∂b = Σ_s g_s / batch,   ∂L/∂B = Σ_s (D g_s)(E x_s)ᵀ / batch = Σ_j Q_j E_jᵀ / batch,
    ∂L/∂D = Σ_s (B E x_s) g_sᵀ / batch,   ∂L/∂E_j = Bᵀ Q_j / batch,   Q_j = Σ_s x_sj D g_s,
written by hand so that sparsity is used at every stage of the CPU step:
* gather forward (when U ≤ R): pre = X M_U + b with M_U = Dᵀ B E_U the N×U map restricted to the
  U distinct active features, costing O(U·K·(K+N)) instead of O(R·K·(K+N));
* after some training most outputs sit below the ReLU threshold, G is exactly zero there, and G Dᵀ
  becomes a gather over the non-zero errors (when at most ``SPARSE_ERROR_DENSITY`` of them are
  non-zero); ∂L/∂B costs O(U·K²) through Q = Xᵀ (G Dᵀ).
The static step (:func:`static_grads`) does the same with dense batched matmuls and static shapes.
"""

from __future__ import annotations

import numpy as np
import torch

from supdyn.config import VARIANT_TABLE
from supdyn.data import sampler
from supdyn.data.static_sampler import StaticBatches
from supdyn.model.sparse import Bags, Compact, error_in_place, static_bias_grad, static_error_in_place, weighted
from supdyn.model.student import Student

# at most this fraction of non-zero output errors: G Dᵀ is a CSR product instead of a matmul
SPARSE_ERROR_DENSITY = 0.12
# gather forward through M_U = Dᵀ B E_U when U <= GATHER_FORWARD_RATIO * R, else through H = X E_Uᵀ
GATHER_FORWARD_RATIO = 1.0


def _tables(st: Student) -> tuple[torch.Tensor, torch.Tensor]:
    """(Eᵀ (n_models, N, K), D (n_models, K, N)): the learned encoder and decoder, or W twice."""
    if st.spec.learned_embedding:
        return st.params["encT"], st.params["dec"]
    return st.fixed["WT"], st.fixed["W"]


def forward(st: Student, cx: Compact) -> dict[str, torch.Tensor]:
    """Pre-activations ``pre`` (n_models·R, N) = M x + b for the compact rows, and intermediates.

    ``e`` (n_models, U, K): rows E_jᵀ of the active features; ``z`` (n_models·R, K) = B E x (learned
    embedding only); ``h`` (n_models, R, K) = E x (dense forward only).
    """
    m, n, k, R, U = st.n_models, st.n_features, st.d_hidden, cx.R, cx.U
    learn = st.spec.learned_embedding
    table, dec = _tables(st)
    e = table.reshape(m * n, k).index_select(0, cx.ucol).view(m, U, k)  # (n_models, U, K)
    out = {"e": e}
    if U <= GATHER_FORWARD_RATIO * R:
        st.stats["gather_forward"] += 1
        zu = torch.bmm(e, st.params["B"].transpose(1, 2))  # (n_models, U, K): rows (B E_j)ᵀ
        mu = torch.bmm(zu, dec)  # (n_models, U, N): rows (Dᵀ B E_j)ᵀ
        out["pre"] = pre = cx.x @ mu.view(m * U, n)  # (n_models·R, N)
        if learn:
            out["z"] = cx.x @ zu.view(m * U, k)  # (n_models·R, K)
    else:
        st.stats["dense_forward"] += 1
        h = (cx.x @ e.view(m * U, k)).view(m, R, k)  # (n_models, R, K) = rows (E x_s)ᵀ
        z = torch.bmm(h, st.params["B"].transpose(1, 2))  # (n_models, R, K)
        out["pre"] = pre = torch.bmm(z, dec).view(m * R, n)  # (n_models·R, N)
        out["h"] = h
        if learn:
            out["z"] = z.view(m * R, k)  # (n_models·R, K)
    if "bias" in st.params:
        pre.view(m, R, n).add_(st.params["bias"][:, None, :])  # (n_models, R, N)
    return out


def _flatnonzero(mask: torch.Tensor) -> torch.Tensor:
    """Indices of the True entries of a 1-D bool mask, ascending (NumPy's is ~2.5× faster on CPU)."""
    if sampler.numpy_path(mask):
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return torch.nonzero(mask).squeeze(1)


def _backprop(st: Student, g: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
    """G Dᵀ: (n_models·R, K) for G (n_models·R, N); a gather over the non-zero errors when few.

    The density of G is estimated on its first 32 rows per model (rows are in random order).
    """
    m, n, k = st.n_models, st.n_features, st.d_hidden
    rows = g.shape[0] // m
    head = g.view(m, rows, n)[:, :32]  # (n_models, ≤ 32, N)
    if int(torch.count_nonzero(head)) <= SPARSE_ERROR_DENSITY * head.numel():
        st.stats["sparse_backward"] += 1
        idx = _flatnonzero(g.view(-1).bool())  # (nnz,) flat index r·N + i, row-major
        r = torch.div(idx, n, rounding_mode="floor")
        col = torch.div(r, rows, rounding_mode="floor") * n + idx - r * n  # block column m·N + i
        off = torch.zeros(g.shape[0], dtype=torch.int64, device=g.device)
        torch.cumsum(torch.bincount(r, minlength=g.shape[0])[:-1], 0, out=off[1:])
        table = dec.transpose(1, 2) if st.spec.learned_embedding else st.fixed["WT"]  # (n_models, N, K)
        return Bags(col, off, g.view(-1)[idx]) @ table.reshape(m * n, k)  # rows Σ_i G_ri D_iᵀ
    st.stats["dense_backward"] += 1
    return torch.bmm(g.view(m, rows, n), dec.transpose(1, 2)).view(m * rows, k)


def sparse_grads(st: Student, cx: Compact):
    """Batch loss (n_models,), dense gradients and row gradients (``encT`` for a learned embedding)."""
    m, n, k, bs = st.n_models, st.n_features, st.d_hidden, cx.batch
    fw = forward(st, cx)
    g = fw["pre"]
    loss = error_in_place(st, cx, g).mul_(0.5 / bs)  # G now holds (y − y*) ⊙ ReLU'(pre), unscaled
    dense: dict[str, torch.Tensor] = {}
    g3 = g.view(m, cx.R, n)  # (n_models, R, N)
    learn = st.spec.learned_embedding
    _, dec = _tables(st)
    gz = _backprop(st, g, dec)  # (n_models·R, K): rows (D g_s)ᵀ
    if "h" in fw:
        dense["B"] = torch.bmm(gz.view(m, cx.R, k).transpose(1, 2), fw["h"])  # (n_models, K, K)
    if "h" not in fw or learn:
        q = (cx.xt @ gz).view(m, cx.U, k)  # (n_models, U, K): rows Q_jᵀ
        if "h" not in fw:
            dense["B"] = torch.bmm(q.transpose(1, 2), fw["e"])  # (n_models, K, K): Σ_j Q_j E_jᵀ
    dense["B"].div_(bs)
    if "bias" in st.params:
        dense["bias"] = (g3.sum(1) + cx.n_rest * weighted(st, st.params["bias"].relu())).div_(bs)  # (n_models, N)
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if learn:
        zt = fw["z"].view(m, cx.R, k).transpose(1, 2)  # (n_models, K, R)
        dense["dec"] = torch.bmm(zt, g3).div_(bs)  # (n_models, K, N): Σ_s z_s g_sᵀ
        rows["encT"] = (cx.ucol, torch.bmm(q, st.params["B"]).view(m * cx.U, k).div_(bs))  # Bᵀ Q_j
    return loss, dense, rows


def static_grads(st: Student, x: StaticBatches, k: int, rows: int, batch: int):
    """The same in static shapes (see :func:`supdyn.model.static_grads`)."""
    m, n, kk = st.n_models, st.n_features, st.d_hidden
    feat, row, pos, val, tgt = x.feat[k], x.row[k], x.pos[k], x.value[k], x.target[k]
    cap = feat.numel() // m
    learn = st.spec.learned_embedding
    table, dec = _tables(st)  # (n_models, N, K), (n_models, K, N)
    decT = dec.transpose(1, 2) if learn else st.fixed["WT"]  # (n_models, N, K)
    B = st.params["B"]
    h = torch.zeros(m * rows, kk, dtype=val.dtype, device=val.device)
    h.index_add_(0, row, table.reshape(m * n, kk)[feat] * val[:, None])  # (n_models·rows, K) = E x
    h3 = h.view(m, rows, kk)  # (n_models, rows, K)
    z = torch.bmm(h3, B.transpose(1, 2))  # (n_models, rows, K) = B E x
    bias = st.params.get("bias")
    g = torch.bmm(z, dec) if bias is None else torch.baddbmm(bias[:, None, :], z, dec)  # (n_models, rows, N)
    loss = static_error_in_place(st, g, pos, tgt, batch)
    gz = torch.bmm(g, decT)  # (n_models, rows, K): rows (D g_s)ᵀ
    dense = {"B": torch.bmm(gz.transpose(1, 2), h3).div_(batch)}  # (n_models, K, K)
    if bias is not None:
        dense["bias"] = static_bias_grad(st, g, batch)  # (n_models, N)
    rows_out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if learn:
        dense["dec"] = torch.bmm(z.transpose(1, 2), g).div_(batch)  # (n_models, K, N) = Σ_s z_s g_sᵀ
        q = gz.view(m * rows, kk)[row] * val[:, None]  # (n_models·cap, K): x_sj (D g_s)ᵀ per entry
        rows_out["encT"] = (feat, torch.bmm(q.view(m, cap, kk), B).view(m * cap, kk).div_(batch))
    return loss, dense, rows_out


def linear_map(st: Student) -> torch.Tensor:
    """The student's N×N map Wᵀ B W (closed-form variants only), float64: (n_models, N, N)."""
    if not st.spec.closed_form:
        allowed = ", ".join(v.name for v in VARIANT_TABLE.values() if v.closed_form)
        raise ValueError(f"variant: {st.variant!r} has no closed-form loss; allowed: {allowed}")
    w = st.fixed["W"].double()
    return w.transpose(1, 2) @ st.params["B"].double() @ w  # (n_models, N, N): Wᵀ B W
