"""Students, their loss and hand-written gradients, for ``n_models`` models at once.

Variants (paper Sec. 2.2; K = d_hidden, N = n_features):
    none       y = B x                      B ∈ R^{N×N}                   (no superposition, K = N)
    linear     y = Wᵀ B W x                 B ∈ R^{K×K}, W fixed          (App. A.2, no ReLU/bias)
    fixed      y = ReLU(Wᵀ B W x + b)       B ∈ R^{K×K}, b ∈ R^N, W fixed (the superposition student)
    learnable  y = ReLU(Dᵀ B E x + b)       E, D ∈ R^{K×N} learned, both started from W (App. A.3)
W is Gaussian with unit-norm columns, drawn from the run's ``embedding`` stream.

Loss per model: L = (1/batch) Σ_s ½‖y*_s − y_s‖² (summed over the N outputs, averaged over samples).
Gradients are written by hand so that the sparse input (≈ E active features per sample) is used as
such: H = X Wᵀ is a gather of E rows of Wᵀ per sample, and the output error G = ∂L/∂(pre-activation)
is exactly zero wherever the ReLU is off, so ``G Wᵀ`` switches to a gather when G is sparse.
The tests compare every gradient with autograd on the dense formula.

Shapes use the names ``n_models``, ``batch``, ``n_features`` (N), ``d_hidden`` (K).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from supdyn.config import RunConfig
from supdyn.data import SparseBatch, frequencies, moments, stream_seed, teacher_diagonal, torch_generator

# below this fraction of non-zero output errors, G Wᵀ is computed as a gather instead of a matmul
SPARSE_ERROR_DENSITY = 0.06


def embedding(n_features: int, d_hidden: int, *, generator: torch.Generator) -> torch.Tensor:
    """Random embedding W, shape (d_hidden, n_features), float64, i.i.d. Gaussian, unit-norm columns."""
    w = torch.randn(d_hidden, n_features, generator=generator, dtype=torch.float64)
    return w / w.norm(dim=0, keepdim=True)


def run_embedding(cfg: RunConfig) -> torch.Tensor:
    """The fixed embedding W of a run (d_hidden, n_features), float64, from its ``embedding`` stream."""
    gen = torch_generator(stream_seed(cfg.seed, "embedding"))
    return embedding(cfg.data.n_features, cfg.model.d_hidden, generator=gen)


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
    stats: dict[str, int] = field(default_factory=lambda: {"sparse_backward": 0, "dense_backward": 0})

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


def _gather_rows(table: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, n_rows: int,
                 row: torch.Tensor) -> torch.Tensor:
    """out[r] = Σ_{e: row[e] = r} weight[e] · table[index[e]]  → (n_rows, table.shape[1])."""
    out = torch.zeros(n_rows, table.shape[1], dtype=table.dtype, device=table.device)
    out.index_add_(0, row, table[index] * weight[:, None])
    return out


def _encode(st: Student, x: SparseBatch) -> torch.Tensor:
    """H = X Eᵀ (or X Wᵀ): (n_models, batch, d_hidden), a gather of the active rows of Eᵀ."""
    table = st.params["encT"] if st.variant == "learnable" else st.fixed["WT"]
    flat = table.reshape(st.n_models * st.n_features, st.d_hidden)  # (n_models·N, K)
    h = _gather_rows(flat, x.flat_col, x.value, st.n_models * x.batch, x.row)
    return h.view(st.n_models, x.batch, st.d_hidden)  # (n_models, batch, d_hidden)


def forward(st: Student, x: SparseBatch) -> dict[str, torch.Tensor]:
    """Pre-activations and intermediates. ``out``: (n_models, batch, n_features) = y (after ReLU)."""
    m, n = st.n_models, st.n_features
    if st.variant == "none":
        flat = st.params["BT"].reshape(m * n, n)  # (n_models·N, N): row j of Bᵀ is column j of B
        y = _gather_rows(flat, x.flat_col, x.value, m * x.batch, x.row).view(m, x.batch, n)
        return {"out": y}
    h = _encode(st, x)
    z = torch.bmm(h, st.params["B"].transpose(1, 2))  # (n_models, batch, d_hidden): z = B h
    dec = st.params["dec"] if st.variant == "learnable" else st.fixed["W"]
    pre = torch.bmm(z, dec)  # (n_models, batch, n_features): Wᵀ z
    if st.variant == "linear":
        return {"out": pre, "h": h, "z": z}
    pre += st.params["bias"][:, None, :]
    return {"out": torch.relu(pre), "pre": pre, "h": h, "z": z}


def output_error(st: Student, x: SparseBatch, fw: dict[str, torch.Tensor]) -> torch.Tensor:
    """E = y − y*, (n_models, batch, n_features). Overwrites ``fw['out']`` in place."""
    err = fw["out"]
    flat = err.view(-1)  # (n_models·batch·N,)
    target = st.teacher.reshape(-1)[x.flat_col] * x.value  # y* at the active entries
    flat.index_put_((x.row * st.n_features + x.col,), -target, accumulate=True)
    return err


def loss_and_grads(st: Student, x: SparseBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Batch loss per model (n_models,) and the gradient of each learned parameter (same shapes)."""
    m, n, k, bs = st.n_models, st.n_features, st.d_hidden, x.batch
    fw = forward(st, x)
    err = output_error(st, x, fw)  # (n_models, batch, n_features)
    loss = 0.5 * err.square().sum(dim=(1, 2)) / bs
    if "pre" in fw:
        err.mul_(fw["pre"] > 0)  # ReLU': no gradient where the unit is off
    g = err.div_(bs)  # g = ∂L/∂(pre-activation), (n_models, batch, n_features)
    grads: dict[str, torch.Tensor] = {}
    if st.variant == "none":
        gt = torch.zeros(m * n, n, dtype=g.dtype, device=g.device)  # ∂L/∂Bᵀ rows: Σ_s x_sj g_s
        gt.index_add_(0, x.flat_col, g.view(m * bs, n)[x.row] * x.value[:, None])
        grads["BT"] = gt.view(m, n, n)
        return loss, grads
    h, z = fw["h"], fw["z"]
    dec = st.params["dec"] if st.variant == "learnable" else st.fixed["W"]
    gz = _backprop_output(st, g, dec)  # (n_models, batch, d_hidden) = G Dᵀ
    grads["B"] = torch.bmm(gz.transpose(1, 2), h)  # (n_models, K, K): Σ_s gz_s h_sᵀ
    if "bias" in st.params:
        grads["bias"] = g.sum(dim=1)
    if st.variant == "learnable":
        grads["dec"] = torch.bmm(z.transpose(1, 2), g)  # (n_models, K, N): Σ_s z_s g_sᵀ
        gh = torch.bmm(gz, st.params["B"])  # (n_models, batch, K): Bᵀ gz
        ge = torch.zeros(m * n, k, dtype=g.dtype, device=g.device)
        ge.index_add_(0, x.flat_col, gh.view(m * bs, k)[x.row] * x.value[:, None])
        grads["encT"] = ge.view(m, n, k)
    return loss, grads


def _backprop_output(st: Student, g: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
    """G Dᵀ: (n_models, batch, d_hidden). A gather over the non-zero errors when they are few."""
    m, bs, n = g.shape
    k = st.d_hidden
    nz = torch.count_nonzero(g)
    if g.device.type == "cpu" and int(nz) < SPARSE_ERROR_DENSITY * g.numel():
        st.stats["sparse_backward"] += 1
        idx = torch.nonzero(g.view(m * bs, n), as_tuple=True)  # (row over models·batch, output)
        val = g.view(m * bs, n)[idx]
        table = dec.transpose(1, 2).reshape(m * n, k) if st.variant == "learnable" else \
            st.fixed["WT"].reshape(m * n, k)  # (n_models·N, K)
        col = torch.div(idx[0], bs, rounding_mode="floor") * n + idx[1]
        return _gather_rows(table, col, val, m * bs, idx[0]).view(m, bs, k)
    st.stats["dense_backward"] += 1
    return torch.bmm(g, dec.transpose(1, 2))


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


def sampled_loss(st: Student, x: SparseBatch, *, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ½E‖y* − y‖² over a fixed evaluation set, accumulated in float64.

    Returns (loss (n_models,), per-feature loss (n_models, n_features)).
    """
    per = torch.zeros(st.n_models, st.n_features, dtype=torch.float64, device=x.value.device)
    for start in range(0, x.batch, chunk):
        part = x.select(start, min(start + chunk, x.batch))
        err = output_error(st, part, forward(st, part))  # (n_models, chunk, N)
        per += err.double().square().sum(dim=1)
    per *= 0.5 / x.batch
    return per.sum(-1), per
