"""Students, their loss and hand-written gradients, for ``n_models`` models at once.

Variants (paper Sec. 2.2; K = d_hidden, N = n_features; the table of what each has is
:data:`supdyn.config.VARIANT_TABLE`, the computation :mod:`supdyn.model.variants`):
    none       y = B x                      B ∈ R^{N×N}                   (no superposition, K = N)
    linear     y = Wᵀ B W x                 B ∈ R^{K×K}, W fixed          (App. A.2, no ReLU/bias)
    fixed      y = ReLU(Wᵀ B W x + b)       B ∈ R^{K×K}, b ∈ R^N, W fixed (the superposition student)
    learnable  y = ReLU(Dᵀ B E x + b)       E, D ∈ R^{K×N} learned, both started from W (App. A.3)
    tied       y = ReLU(Wᵀ W x + b)         W ∈ R^{K×N} learned, no B    (toy models of superposition)
W is Gaussian with unit-norm columns (or N(0, 1/K) entries), drawn from the run's ``embedding`` stream.

Loss per model: L = (1/batch) Σ_s ½‖y*_s − y_s‖² (summed over the N outputs, averaged over samples),
or with loss weights w (``importance``) L = (1/batch) Σ_s ½ Σ_i w_i (y*_si − y_si)² (the per-feature
losses are then w_i-weighted too, so that they sum to L), or with ``loss_reduction = "mean"``
(1/(batch·N)) Σ_s ‖y*_s − y_s‖², i.e. the same times ``Student.loss_scale`` = 2/N: every loss and
gradient below is computed for the first and scaled.
Two ways to compute it and its gradients, both hand-written and tested against autograd:
* :func:`step_grads`, the CPU step: the batch is compacted (:func:`compact`): only the R samples with
  an active feature get an output row; each of the other samples has y = ReLU(b), y* = 0, so they add
  ½‖ReLU(b)‖² to the loss and ReLU(b) to the bias gradient each, and nothing else; sparse products
  (:class:`Bags`, ``embedding_bag``) wherever the data or the errors are sparse. Data-dependent shapes.
* :func:`static_grads`, the device step: the same quantities on a static batch
  (:class:`supdyn.data.static_sampler.StaticBatches`) with dense batched matmuls, no host sync.
Rows of all models are stacked, so one call serves every model.

Numerics: parameters, forward and gradients use the run's dtype (float32 by default); the batch loss
(only used to detect divergence) is summed in that dtype, while the evaluation loss
(:func:`sampled_loss`, :func:`population_loss`) is accumulated in float64, since its small
differences over time are what the fits measure.

Shapes use the names ``n_models``, ``batch``, ``n_features`` (N), ``d_hidden`` (K).
"""

from __future__ import annotations

import torch

from supdyn.data import Groups, SparseBatch, moments
from supdyn.data.correlated import second_moment_correlated
from supdyn.data.static_sampler import StaticBatches
from supdyn.model.sparse import Bags, Compact, compact, error_in_place
from supdyn.model.student import Student, build_student, embedding, run_embedding
from supdyn.model.variants import implementation

__all__ = ["Bags", "Compact", "Student", "build_student", "compact", "embedding", "error_in_place",
           "loss_and_grads", "moments_torch", "population_loss", "run_embedding", "sampled_loss",
           "static_grads", "step_grads"]

Grads = tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, tuple[torch.Tensor, torch.Tensor]]]


def step_grads(st: Student, x: SparseBatch) -> Grads:
    """Batch loss (n_models,), dense gradients {name: tensor shaped like the parameter}, and
    row gradients {name: (rows (n_rows,) into param.view(n_models·N, -1), values (n_rows, width))}
    (``BT`` without superposition, ``encT`` for a learned embedding; rows may repeat and are summed).

    The returned tensors are fresh, so the caller may modify them in place.
    """
    return _scaled(st, *implementation(st.variant).sparse_grads(st, compact(x, st.teacher)))


def static_grads(st: Student, x: StaticBatches, k: int, rows: int, batch: int) -> Grads:
    """Batch loss, dense and row gradients of batch ``k`` of ``x`` (``rows`` compact rows per model), in
    the format of :func:`step_grads` (padding entries carry zero values). Static shapes, no host sync:
    H = X Eᵀ by a scatter-add, Z = H Bᵀ, pre = Z D + b, G Dᵀ and ∂L/∂B by batched matmuls; the
    batch − rows empty samples are added in closed form."""
    return _scaled(st, *implementation(st.variant).static_grads(st, x, k, rows, batch))


def _scaled(st: Student, loss: torch.Tensor, dense: dict[str, torch.Tensor],
            rows: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Grads:
    """Loss and gradients times ``st.loss_scale`` (in place; nothing to do for the summed ½ loss)."""
    if st.loss_scale != 1.0:
        for t in [loss, *dense.values(), *(v for _, v in rows.values())]:
            t.mul_(st.loss_scale)
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
    """Exact ½E‖y* − y‖² (weighted: ½ Σ_i w_i E(y*_i − y_i)²) for the closed-form (linear) students, in
    float64 (times ``loss_scale``).

    With M the student's N×N map and D = M − A:  L = ½ Tr(D Σ Dᵀ), Σ = diag(p/3 − p²/4) + μμᵀ,
    μ = p/2 (for v ~ U(0, c): μ = c p/2, E[x²] = c² p/3). Returns (loss (n_models,), per-feature loss
    (n_models, n_features)), where L_i = ½ [Σ_j D_ij² (E[x_j²] − μ_j²) + (D μ)_i²].
    """
    d = implementation(st.variant).linear_map(st).clone()  # (n_models, N, N)
    d.diagonal(dim1=1, dim2=2).sub_(st.teacher.double())
    c = st.vmax.to(d.device, torch.float64)[:, None]  # (n_models, 1): values v ~ U(0, c)
    if st.groups is not None:  # correlated features: the full Σ, L_i = ½ [D Σ Dᵀ]_ii
        p = st.p.cpu().numpy()
        sigma = torch.stack([torch.from_numpy(second_moment_correlated(
            p[i], Groups(st.groups.kind, st.groups.size, (st.groups.rho[i],)))) for i in range(st.n_models)])
        sigma = sigma.to(d.device) * c[:, :, None].square()  # x scales with c: Σ with c²
        per = 0.5 * (torch.bmm(d, sigma) * d).sum(-1)
    else:
        mu, ex2 = (t.to(d.device) for t in moments_torch(st.p))
        if bool((c != 1).any()):
            mu, ex2 = mu * c, ex2 * c.square()
        per = 0.5 * ((d.square() * (ex2 - mu.square())[:, None, :]).sum(-1)
                     + torch.bmm(d, mu[:, :, None]).squeeze(-1).square())
    if st.weights is not None:
        per *= st.weights.double()
    if st.loss_scale != 1.0:
        per *= st.loss_scale
    return per.sum(-1), per


def moments_torch(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, E[x²]) = (p/2, p/3) as float64 tensors; see :func:`supdyn.data.moments`."""
    mu, ex2 = moments(p.cpu().numpy())
    return torch.from_numpy(mu), torch.from_numpy(ex2)


def sampled_loss(st: Student, x: SparseBatch, *, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo ½E‖y* − y‖² over a fixed evaluation set, accumulated in float64.

    Returns (loss (n_models,), per-feature loss (n_models, n_features)), times ``loss_scale``. Same
    compact forward as the training step; the empty samples outside the compact rows add ½ ReLU(b_i)² each.
    """
    m, n = st.n_models, st.n_features
    forward = implementation(st.variant).forward
    per = torch.zeros(m, n, dtype=torch.float64, device=x.value.device)
    for start in range(0, x.batch, chunk):
        cx = compact(x.select(start, min(start + chunk, x.batch)), st.teacher)
        err = forward(st, cx)["pre"]  # (n_models·R, N)
        if "bias" in st.params:
            err.relu_()
            per += cx.n_rest * st.params["bias"].double().relu().square()
        err.view(-1).index_put_((cx.pos,), -cx.target, accumulate=True)  # y − y*
        per += err.square_().view(m, cx.R, n).sum(1, dtype=torch.float64)  # (n_models, N)
    per *= 0.5 / x.batch
    if st.weights is not None:
        per *= st.weights.double()
    if st.loss_scale != 1.0:
        per *= st.loss_scale
    return per.sum(-1), per
