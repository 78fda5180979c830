"""Students, their loss and hand-written gradients, for ``n_models`` models at once.

Variants (paper Sec. 2.2; K = d_hidden, N = n_features):
    none       y = B x                      B ∈ R^{N×N}                   (no superposition, K = N)
    linear     y = Wᵀ B W x                 B ∈ R^{K×K}, W fixed          (App. A.2, no ReLU/bias)
    fixed      y = ReLU(Wᵀ B W x + b)       B ∈ R^{K×K}, b ∈ R^N, W fixed (the superposition student)
    learnable  y = ReLU(Dᵀ B E x + b)       E, D ∈ R^{K×N} learned, both started from W (App. A.3)
W is Gaussian with unit-norm columns, drawn from the run's ``embedding`` stream.

Loss per model: L = (1/batch) Σ_s ½‖y*_s − y_s‖² (summed over the N outputs, averaged over samples).
With G = (y − y*) ⊙ ReLU'(pre) (one row per sample), the gradients are
    ∂L/∂b = Σ_s g_s / batch,   ∂L/∂B = Σ_s (D g_s)(E x_s)ᵀ / batch = Σ_j Q_j E_jᵀ / batch,
    ∂L/∂D = Σ_s (B E x_s) g_sᵀ / batch,   ∂L/∂E_j = Bᵀ Q_j / batch,   Q_j = Σ_s x_sj D g_s,
    none: ∂L/∂(row j of Bᵀ) = Σ_s x_sj g_s / batch.
They are written by hand so that sparsity is used at every stage (the tests compare them with
autograd on the dense formula):
* the batch is compacted (:func:`compact`): only the R samples with an active feature get an output
  row; each of the other samples has y = ReLU(b), y* = 0, so they add ½‖ReLU(b)‖² to the loss and
  ReLU(b) to the bias gradient each, and nothing to B, D, E;
* gather forward (when U ≤ R): pre = X M_U + b with M_U = Dᵀ B E_U the N×U map restricted to the
  U distinct active features, costing O(U·K·(K+N)) instead of O(R·K·(K+N)); X (R × U, sparse) is
  applied with ``embedding_bag`` (:class:`Bags`, a fused weighted gather-sum of table rows);
* after some training most outputs sit below the ReLU threshold, G is exactly zero there, and G Dᵀ
  becomes a gather over the non-zero errors (when at most ``SPARSE_ERROR_DENSITY`` of them are
  non-zero); ∂L/∂B costs O(U·K²) through Q = Xᵀ (G Dᵀ).
Rows of all models are stacked (block-diagonal sparse matrices), so one call serves every model.

Numerics: parameters, forward and gradients use the run's dtype (float32 by default: the step is
matmul-bound and float32 halves its cost); the batch loss (only used to detect divergence) is
summed in that dtype, while the evaluation loss (:func:`sampled_loss`, :func:`population_loss`)
is accumulated in float64, since its small differences over time are what the fits measure.

Shapes use the names ``n_models``, ``batch``, ``n_features`` (N), ``d_hidden`` (K).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from supdyn.config import RunConfig
from supdyn.data import SparseBatch, frequencies, moments, sampler, stream_seed, teacher_diagonal, torch_generator

# at most this fraction of non-zero output errors: G Dᵀ is a CSR product instead of a matmul
SPARSE_ERROR_DENSITY = 0.12
# gather forward through M_U = Dᵀ B E_U when U <= GATHER_FORWARD_RATIO * R, else through H = X E_Uᵀ
GATHER_FORWARD_RATIO = 1.0


def embedding(n_features: int, d_hidden: int, *, generator: torch.Generator) -> torch.Tensor:
    """Random embedding W, shape (d_hidden, n_features), float64, i.i.d. Gaussian, unit-norm columns."""
    w = torch.randn(d_hidden, n_features, generator=generator, dtype=torch.float64)
    return w / w.norm(dim=0, keepdim=True)


def run_embedding(cfg: RunConfig) -> torch.Tensor:
    """The fixed embedding W of a run (d_hidden, n_features), float64, from its ``embedding`` stream."""
    gen = torch_generator(stream_seed(cfg.seed, "embedding"))
    return embedding(cfg.data.n_features, cfg.model.d_hidden, generator=gen)


def _counters() -> dict[str, int]:
    return {"sparse_backward": 0, "dense_backward": 0, "gather_forward": 0, "dense_forward": 0}


@dataclass
class Student:
    """Parameters of ``n_models`` students of one variant and shape.

    params (learned):  ``B``    (n_models, d_hidden, d_hidden)       linear, fixed, learnable
                       ``BT``   (n_models, n_features, n_features)   none: Bᵀ (kept transposed so
                                                                     that input columns are rows)
                       ``bias`` (n_models, n_features)               fixed, learnable
                       ``encT`` (n_models, n_features, d_hidden)     learnable: Eᵀ
                       ``dec``  (n_models, d_hidden, n_features)     learnable: D
    fixed: ``W`` (n_models, d_hidden, n_features) and ``WT`` its transpose, for linear and fixed.
    teacher: (n_models, n_features) diagonal of A. p: (n_models, n_features) float64 frequencies.
    """

    variant: str
    params: dict[str, torch.Tensor]
    fixed: dict[str, torch.Tensor]
    teacher: torch.Tensor
    p: torch.Tensor
    n_features: int
    d_hidden: int
    stats: dict[str, int] = field(default_factory=_counters)

    @property
    def n_models(self) -> int:
        return self.teacher.shape[0]

    def matrix_B(self) -> torch.Tensor:
        """B as the paper writes it: (n_models, N, N) for ``none``, else (n_models, K, K)."""
        if self.variant == "none":
            return self.params["BT"].transpose(1, 2)
        return self.params["B"]

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the learned matrices as float32 numpy arrays (B, and enc/dec when learned)."""
        out = {"B": self.matrix_B().detach().cpu().numpy().astype(np.float32)}
        if self.variant == "learnable":
            out["enc"] = self.params["encT"].transpose(1, 2).cpu().numpy().astype(np.float32)
            out["dec"] = self.params["dec"].cpu().numpy().astype(np.float32)
        return out


def build_student(configs: list[RunConfig], *, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> Student:
    """Initialize one Student holding every config's model (all share variant, N and K).

    Random draws happen on the CPU in float64 from each run's own ``embedding`` and ``init`` streams,
    so a model's initial state does not depend on the device or on the other models.
    """
    variant = configs[0].variant
    n, k = configs[0].data.n_features, configs[0].model.d_hidden
    for c in configs:
        if (c.variant, c.data.n_features, c.model.d_hidden) != (variant, n, k):
            raise ValueError("configs: models trained together must share variant, n_features and d_hidden")
    p = torch.tensor(np.stack([frequencies(c.data) for c in configs]), dtype=torch.float64)
    teacher = torch.tensor(np.stack([teacher_diagonal(c.data) for c in configs]))
    width = n if variant == "none" else k
    b0 = []
    for c in configs:
        gen = torch_generator(stream_seed(c.seed, "init"))
        b0.append(c.model.init_scale * torch.randn(width, width, generator=gen, dtype=torch.float64))
    B = torch.stack(b0)  # (n_models, width, width)
    params: dict[str, torch.Tensor] = {}
    fixed: dict[str, torch.Tensor] = {}
    if variant == "none":
        params["BT"] = B.transpose(1, 2)
    else:
        params["B"] = B
        W = torch.stack([run_embedding(c) for c in configs])  # (n_models, d_hidden, n_features)
        if variant == "learnable":
            params["encT"] = W.transpose(1, 2)
            params["dec"] = W.clone()
        else:
            fixed["W"] = W
            fixed["WT"] = W.transpose(1, 2)
        if variant in ("fixed", "learnable"):
            params["bias"] = torch.zeros(len(configs), n, dtype=torch.float64)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype).contiguous()

    return Student(variant, {k_: cast(v) for k_, v in params.items()},
                   {k_: cast(v) for k_, v in fixed.items()}, cast(teacher), p.to(device), n, k)


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


def _forward(st: Student, cx: Compact) -> dict[str, torch.Tensor]:
    """Pre-activations ``pre`` (n_models·R, N) = M x + b for the compact rows, and intermediates.

    ``e`` (n_models, U, K): rows E_jᵀ of the active features; ``z`` (n_models·R, K) = B E x (learnable
    only); ``h`` (n_models, R, K) = E x (dense forward only).
    """
    m, n, k, R, U = st.n_models, st.n_features, st.d_hidden, cx.R, cx.U
    if st.variant == "none":
        rows = st.params["BT"].reshape(m * n, n).index_select(0, cx.ucol)  # (n_models·U, N): Bᵀ rows
        return {"pre": cx.x @ rows}
    learn = st.variant == "learnable"
    table = st.params["encT"] if learn else st.fixed["WT"]
    e = table.reshape(m * n, k).index_select(0, cx.ucol).view(m, U, k)  # (n_models, U, K)
    dec = st.params["dec"] if learn else st.fixed["W"]  # (n_models, K, N)
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


def _relu_error(st: Student, cx: Compact, pre: torch.Tensor) -> torch.Tensor:
    """In place: pre → G = (y − y*) ⊙ ReLU'(pre). Returns the summed squared error Σ‖y − y*‖² (m,)."""
    m = st.n_models
    flat = pre.view(-1)  # (n_models·R·N,)
    at = flat[cx.pos]  # (nnz,) pre-activations at the active entries
    missed = torch.zeros(m, dtype=pre.dtype, device=pre.device)
    if st.variant in ("none", "linear"):
        flat[cx.pos] = at - cx.target
    else:
        pre.relu_()
        on = at > 0
        flat[cx.pos] = torch.where(on, at - cx.target, 0.0)
        missed.index_add_(0, cx.entry_model, torch.where(on, 0.0, cx.target).square())  # err = −y*
    sq = torch.linalg.vector_norm(pre.view(m, -1), dim=1).square_()  # (n_models,)
    if "bias" in st.params:
        sq += cx.n_rest * st.params["bias"].relu().square().sum(1)  # empty samples: y = ReLU(b)
    return sq + missed


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
        table = st.fixed["WT"] if st.variant != "learnable" else dec.transpose(1, 2)  # (n_models, N, K)
        return Bags(col, off, g.view(-1)[idx]) @ table.reshape(m * n, k)  # rows Σ_i G_ri D_iᵀ
    st.stats["dense_backward"] += 1
    return torch.bmm(g.view(m, rows, n), dec.transpose(1, 2)).view(m * rows, k)


def step_grads(st: Student, x: SparseBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor],
                                                     dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Batch loss (n_models,), dense gradients {name: tensor shaped like the parameter}, and
    row gradients {name: (rows (n_rows,) into param.view(n_models·N, -1), values (n_rows, width))}
    (``BT`` for none, ``encT`` for learnable; rows may repeat and are to be summed).

    The returned tensors are fresh, so the caller may modify them in place.
    """
    m, n, k, bs = st.n_models, st.n_features, st.d_hidden, x.batch
    cx = compact(x, st.teacher)
    fw = _forward(st, cx)
    g = fw["pre"]
    loss = _relu_error(st, cx, g).mul_(0.5 / bs)  # G now holds (y − y*) ⊙ ReLU'(pre), unscaled
    dense: dict[str, torch.Tensor] = {}
    if st.variant == "none":  # rows Σ_s x_sj g_s / batch (1/batch folded into the bag weights)
        return loss, dense, {"BT": (cx.ucol, Bags(cx.xt.idx, cx.xt.off, cx.xt.val / bs) @ g)}
    g3 = g.view(m, cx.R, n)  # (n_models, R, N)
    learn = st.variant == "learnable"
    dec = st.params["dec"] if learn else st.fixed["W"]
    gz = _backprop(st, g, dec)  # (n_models·R, K): rows (D g_s)ᵀ
    if "h" in fw:
        dense["B"] = torch.bmm(gz.view(m, cx.R, k).transpose(1, 2), fw["h"])  # (n_models, K, K)
    if "h" not in fw or learn:
        q = (cx.xt @ gz).view(m, cx.U, k)  # (n_models, U, K): rows Q_jᵀ
        if "h" not in fw:
            dense["B"] = torch.bmm(q.transpose(1, 2), fw["e"])  # (n_models, K, K): Σ_j Q_j E_jᵀ
    dense["B"].div_(bs)
    if "bias" in st.params:
        dense["bias"] = (g3.sum(1) + cx.n_rest * st.params["bias"].relu()).div_(bs)  # (n_models, N)
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if learn:
        zt = fw["z"].view(m, cx.R, k).transpose(1, 2)  # (n_models, K, R)
        dense["dec"] = torch.bmm(zt, g3).div_(bs)  # (n_models, K, N): Σ_s z_s g_sᵀ
        rows["encT"] = (cx.ucol, torch.bmm(q, st.params["B"]).view(m * cx.U, k).div_(bs))  # Bᵀ Q_j
    return loss, dense, rows


def loss_and_grads(st: Student, x: SparseBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Batch loss per model (n_models,) and the gradient of each learned parameter (same shapes)."""
    loss, grads, rows = step_grads(st, x)
    for name, (idx, val) in rows.items():
        p = st.params[name]
        full = torch.zeros(p.shape[0] * p.shape[1], p.shape[2], dtype=p.dtype, device=p.device)
        grads[name] = full.index_add_(0, idx, val).view(p.shape)  # (n_models, N, width)
    return loss, grads


def population_loss(st: Student) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ½E‖y* − y‖² for the linear students (none, linear), in float64.

    With M the student's N×N map and D = M − A:  L = ½ Tr(D Σ Dᵀ), Σ = diag(p/3 − p²/4) + μμᵀ,
    μ = p/2. Returns (loss (n_models,), per-feature loss (n_models, n_features)), where
    L_i = ½ [Σ_j D_ij² (p_j/3 − p_j²/4) + (D μ)_i²].
    """
    if st.variant == "none":
        m_map = st.params["BT"].transpose(1, 2).double()  # (n_models, N, N)
    elif st.variant == "linear":
        w = st.fixed["W"].double()
        m_map = w.transpose(1, 2) @ st.params["B"].double() @ w  # (n_models, N, N): Wᵀ B W
    else:
        raise ValueError(f"variant: {st.variant!r} has no closed-form loss; allowed: none, linear")
    d = m_map.clone()
    d.diagonal(dim1=1, dim2=2).sub_(st.teacher.double())
    mu, ex2 = (t.to(d.device) for t in moments_torch(st.p))
    per = 0.5 * ((d.square() * (ex2 - mu.square())[:, None, :]).sum(-1)
                 + torch.bmm(d, mu[:, :, None]).squeeze(-1).square())
    return per.sum(-1), per


def moments_torch(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, E[x²]) = (p/2, p/3) as float64 tensors; see :func:`supdyn.data.moments`."""
    mu, ex2 = moments(p.cpu().numpy())
    return torch.from_numpy(mu), torch.from_numpy(ex2)


def sampled_loss(st: Student, x: SparseBatch, *, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ½E‖y* − y‖² over a fixed evaluation set, accumulated in float64.

    Returns (loss (n_models,), per-feature loss (n_models, n_features)). Same compact forward as the
    training step; the empty samples outside the compact rows add ½ ReLU(b_i)² each.
    """
    m, n = st.n_models, st.n_features
    per = torch.zeros(m, n, dtype=torch.float64, device=x.value.device)
    for start in range(0, x.batch, chunk):
        cx = compact(x.select(start, min(start + chunk, x.batch)), st.teacher)
        err = _forward(st, cx)["pre"]  # (n_models·R, N)
        if "bias" in st.params:
            err.relu_()
            per += cx.n_rest * st.params["bias"].double().relu().square()
        err.view(-1).index_put_((cx.pos,), -cx.target, accumulate=True)  # y − y*
        per += err.square_().view(m, cx.R, n).sum(1, dtype=torch.float64)  # (n_models, N)
    per *= 0.5 / x.batch
    return per.sum(-1), per
