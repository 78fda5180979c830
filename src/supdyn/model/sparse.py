"""Sparse batches in the compact form of the CPU step: the non-empty samples and the distinct active
features of every model (:func:`compact`), and sparse matrices applied by rows (:class:`Bags`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from supdyn.data import SparseBatch


@dataclass(frozen=True)
class Bags:
    """A sparse matrix S (n_bags × n_cols) by rows: row r holds entries idx[e], val[e] for e in
    [off[r], off[r+1]). ``S @ T`` for a dense table T (n_cols, d) is one ``embedding_bag`` call
    (a weighted gather-sum of rows of T, fused and vectorized on CPU and CUDA)."""

    idx: torch.Tensor
    off: torch.Tensor
    val: torch.Tensor

    @staticmethod
    def from_coo(row: torch.Tensor, col: torch.Tensor, val: torch.Tensor, n_rows: int) -> "Bags":
        """Bags of COO entries (row, col, val); entries are put in row order by a stable sort."""
        order = torch.argsort(row, stable=True)
        off = torch.zeros(n_rows, dtype=torch.int64, device=row.device)
        torch.cumsum(torch.bincount(row, minlength=n_rows)[:-1], 0, out=off[1:])
        return Bags(col[order], off, val[order])

    def __matmul__(self, table: torch.Tensor) -> torch.Tensor:
        """S @ table: (n_bags, d) for table (n_cols, d)."""
        return F.embedding_bag(self.idx, table, self.off, mode="sum", per_sample_weights=self.val)


@dataclass(frozen=True)
class Compact:
    """A batch restricted to its non-empty samples and its distinct active features, per model.

    R: the most non-empty samples of any model; sample s of model m with rank r among its model's
       non-empty samples is compact row m·R + r (rows past a model's own count are empty samples).
    U: the most distinct active features of any model; ucol (n_models·U,) holds the flat feature
       index m·N + j of each compact column (unused padding columns point at feature 0 of model m).
    x:  X (n_models·R × n_models·U), block-diagonal, x_{s,j};   xt: Xᵀ.
    pos: (nnz,) flat index (m·R + r)·N + j of each active entry in a (n_models·R, N) output.
    target: (nnz,) y* = a_j x_{s,j} there;   entry_model: (nnz,) model index of each entry.
    batch: samples per model;  n_rest = batch − R empty samples per model outside the compact rows.
    """

    x: Bags
    xt: Bags
    ucol: torch.Tensor
    pos: torch.Tensor
    target: torch.Tensor
    entry_model: torch.Tensor
    R: int
    U: int
    batch: int

    @property
    def n_rest(self) -> int:
        return self.batch - self.R


def compact(x: SparseBatch, teacher: torch.Tensor) -> Compact:
    """Compact form of ``x`` (see :class:`Compact`); ``teacher`` (n_models, n_features). One sync."""
    m, bs, n = x.n_models, x.batch, x.n_features
    dev = x.row.device
    model, flat_col = x.model, x.flat_col
    nonempty = torch.zeros(m * bs, dtype=torch.int64, device=dev)
    nonempty[x.row] = 1
    rank = torch.cumsum(nonempty.view(m, bs), 1)  # (n_models, batch): 1 + rank of each sample
    used = torch.zeros(m * n, dtype=torch.int64, device=dev)
    used[flat_col] = 1
    crank = torch.cumsum(used.view(m, n), 1)  # (n_models, N): 1 + rank of each active feature
    R, U = (max(int(v), 1) for v in torch.stack([rank[:, -1].max(), crank[:, -1].max()]).tolist())
    r = model * R + rank.view(-1)[x.row] - 1  # (nnz,) compact row
    c = model * U + crank.view(-1)[flat_col] - 1  # (nnz,) compact column
    ucol = torch.repeat_interleave(torch.arange(m, device=dev) * n, U)  # (n_models·U,) padding
    ucol[c] = flat_col
    target = teacher.reshape(-1)[flat_col] * x.value  # (nnz,) flat (n_models·N,) lookup
    return Compact(Bags.from_coo(r, c, x.value, m * R), Bags.from_coo(c, r, x.value, m * U), ucol,
                   r * n + x.col, target, model, R, U, bs)


def error_in_place(st, cx: Compact, pre: torch.Tensor) -> torch.Tensor:
    """In place: pre → G = w ⊙ (y − y*) ⊙ ReLU'(pre) (y = pre without a ReLU; w the loss weights, 1 by
    default). Returns the weighted squared error Σ_i w_i (y_i − y*_i)² per model (n_models,), including the
    empty samples outside the compact rows (y = ReLU(b) there) and the active entries whose unit is off
    (error −y*, G = 0)."""
    m, n = st.n_models, st.n_features
    flat = pre.view(-1)  # (n_models·R·N,)
    at = flat[cx.pos]  # (nnz,) pre-activations at the active entries
    missed = torch.zeros(m, dtype=pre.dtype, device=pre.device)
    w = st.weights
    if not st.spec.relu_bias:
        flat[cx.pos] = at - cx.target
    else:
        pre.relu_()
        on = at > 0
        flat[cx.pos] = torch.where(on, at - cx.target, 0.0)
        err = torch.where(on, 0.0, cx.target).square()  # err = −y*
        if w is not None:
            err *= w.reshape(-1)[cx.entry_model * n + cx.pos % n]
        missed.index_add_(0, cx.entry_model, err)
    if w is None:
        sq = torch.linalg.vector_norm(pre.view(m, -1), dim=1).square_()  # (n_models,)
    else:
        g3 = pre.view(m, -1, n)  # (n_models, R, N)
        sq = (g3.square() * w[:, None, :]).sum((1, 2))
        g3.mul_(w[:, None, :])
    if "bias" in st.params:
        empty = st.params["bias"].relu().square()  # (n_models, N): empty samples, y = ReLU(b)
        sq += cx.n_rest * (empty if w is None else empty * w).sum(1)
    return sq + missed


def weighted(st, v: torch.Tensor) -> torch.Tensor:
    """v ⊙ w (v: (n_models, N)), or v itself for uniform weights."""
    return v if st.weights is None else v * st.weights


def static_error_in_place(st, g: torch.Tensor, pos: torch.Tensor, tgt: torch.Tensor, batch: int) -> torch.Tensor:
    """The static step's :func:`error_in_place`: g (n_models, rows, N) holds the pre-activations of the
    compact rows (bias included) and becomes G = w ⊙ (y − y*) ⊙ ReLU'(pre); the entries are at flat output
    indices ``pos`` with targets ``tgt`` (n_models·capacity,; padding: target 0). Returns the batch loss
    ½ Σ_i w_i (y_i − y*_i)² / batch per model, with the batch − rows empty samples (y = ReLU(b)) and the
    active entries whose unit is off (error −y*, G = 0)."""
    m, rows, n = g.shape
    flat = g.view(-1)
    at = flat[pos]  # (n_models·cap,) pre-activations at the entries
    w = st.weights
    if not st.spec.relu_bias:  # G = pre − y*
        flat.index_add_(0, pos, tgt, alpha=-1)
        missed = None
    else:  # G = (ReLU(pre) − y*) ⊙ ReLU'(pre): −y* where the unit is on; error −y* (G 0) where off
        g.relu_()
        on = at > 0
        flat.index_add_(0, pos, torch.where(on, tgt, 0.0), alpha=-1)
        err = torch.where(on, 0.0, tgt).square_()  # (n_models·cap,)
        if w is not None:  # entry at flat position pos: model pos // (rows·N), feature pos % N
            err = err * w.reshape(-1)[torch.div(pos, rows * n, rounding_mode="floor") * n + pos % n]
        missed = err.view(m, -1).sum(1)
    if w is None:
        sq = torch.linalg.vector_norm(g.view(m, -1), dim=1).square_()  # (n_models,)
    else:  # Σ w (y − y*)², then G ← w ⊙ G
        sq = (g.square() * w[:, None, :]).sum((1, 2))
        g.mul_(w[:, None, :])
    bias = st.params.get("bias")
    if bias is not None:
        rb = bias.relu()  # (n_models, N): y of every empty sample
        sq += (batch - rows) * weighted(st, rb.square()).sum(1) + missed
    return sq.mul_(0.5 / batch)


def static_bias_grad(st, g: torch.Tensor, batch: int) -> torch.Tensor:
    """∂L/∂b = (Σ_s g_s + n_rest w ⊙ ReLU(b)) / batch (n_models, N) for G = g (n_models, rows, N)."""
    return (g.sum(1) + (batch - g.shape[1]) * weighted(st, st.params["bias"].relu())).div_(batch)
