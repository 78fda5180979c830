"""The device training step: static shapes, no host synchronization, every model in batched kernels.

Built for CUDA (launch- and sync-bound otherwise); it runs on any device, which is how the default
tests check it on the CPU. One step of every model (paper Sec. 2.2, K = d_hidden, N = n_features):
* a batch in static form (:class:`supdyn.data.static_sampler.StaticBatches`): ``capacity`` entry
  slots and ``rows`` compact rows per model; the batch − rows samples outside the compact rows are
  empty (y = ReLU(b), y* = 0), added in closed form as in :func:`supdyn.model.step_grads`;
* forward for every model at once: H = X Eᵀ (a scatter-add of the active features' embedding rows),
  Z = H Bᵀ, pre = Z D + b (batched matmuls), (n_models, rows, N);
* G = (y − y*) ⊙ ReLU'(pre) in place, y* scattered at the entries; loss ½(‖G‖² + Σ_missed y*² +
  n_rest ‖ReLU(b)‖²) / batch, where "missed" are active entries whose unit is off (error −y*);
* gradients: ∂L/∂B = (G Dᵀ)ᵀ H / batch, ∂L/∂b = (Σ_s g_s + n_rest ReLU(b)) / batch, learnable:
  ∂L/∂D = Zᵀ G / batch and ∂L/∂E_j = Bᵀ Σ_s x_sj D g_s / batch (row updates); none: y = X Bᵀ and
  ∂L/∂(row j of Bᵀ) = Σ_s x_sj g_s / batch;
* update θ ← θ − lr_m g with per-model learning rates; divergence (non-finite batch loss or above
  ``diverge_factor`` × the loss at t = 0) freezes the model on the device (parameters zeroed, the step
  recorded), and a model past its own number of steps takes no more steps (lr 0). The host reads the
  flags only at evaluation points.
Dense matmuls cost 4·rows·N·K flops per model and step (6 for learnable), the dense-output bound.
"""

from __future__ import annotations

import torch

from supdyn.data.static_sampler import StaticBatches
from supdyn.model import Student


def static_grads(st: Student, x: StaticBatches, k: int, rows: int, batch: int
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Batch loss (n_models,), dense gradients and row gradients of batch ``k`` of ``x``, in the format
    of :func:`supdyn.model.step_grads` (row gradients: (flat rows m·N + j, values), rows may repeat;
    padding entries carry zero values). Static shapes; no host synchronization."""
    m, n, kk = st.n_models, st.n_features, st.d_hidden
    feat, row, pos, val, tgt = x.feat[k], x.row[k], x.pos[k], x.value[k], x.target[k]
    cap = feat.numel() // m
    dt, dev = val.dtype, val.device
    if st.variant == "none":
        y = torch.zeros(m * rows, n, dtype=dt, device=dev)  # (n_models·rows, N)
        y.index_add_(0, row, st.params["BT"].view(m * n, n)[feat] * val[:, None])  # rows Σ_j x_sj Bᵀ_j
        y.view(-1).index_add_(0, pos, tgt, alpha=-1)  # G = y − y*
        loss = torch.linalg.vector_norm(y.view(m, -1), dim=1).square_().mul_(0.5 / batch)
        return loss, {}, {"BT": (feat, y[row] * (val / batch)[:, None])}  # (n_models·cap, N)
    learn = st.variant == "learnable"
    table = st.params["encT"] if learn else st.fixed["WT"]  # (n_models, N, K)
    dec = st.params["dec"] if learn else st.fixed["W"]  # (n_models, K, N)
    decT = dec.transpose(1, 2) if learn else st.fixed["WT"]  # (n_models, N, K)
    B = st.params["B"]
    h = torch.zeros(m * rows, kk, dtype=dt, device=dev)
    h.index_add_(0, row, table.reshape(m * n, kk)[feat] * val[:, None])  # (n_models·rows, K) = E x
    h3 = h.view(m, rows, kk)  # (n_models, rows, K)
    z = torch.bmm(h3, B.transpose(1, 2))  # (n_models, rows, K) = B E x
    bias = st.params.get("bias")
    g = torch.bmm(z, dec) if bias is None else torch.baddbmm(bias[:, None, :], z, dec)  # (n_models, rows, N)
    flat = g.view(-1)
    at = flat[pos]  # (n_models·cap,) pre-activations at the entries
    if bias is None:  # linear: G = pre − y*
        flat.index_add_(0, pos, tgt, alpha=-1)
        missed = None
    else:  # G = (ReLU(pre) − y*) ⊙ ReLU'(pre): −y* where the unit is on; error −y* (G 0) where off
        g.relu_()
        on = at > 0
        flat.index_add_(0, pos, torch.where(on, tgt, 0.0), alpha=-1)
        missed = torch.where(on, 0.0, tgt).square_().view(m, cap).sum(1)
    sq = torch.linalg.vector_norm(g.view(m, -1), dim=1).square_()  # (n_models,)
    n_rest = batch - rows
    if bias is not None:
        rb = bias.relu()  # (n_models, N): y of every empty sample
        sq += n_rest * rb.square().sum(1) + missed
    loss = sq.mul_(0.5 / batch)
    gz = torch.bmm(g, decT)  # (n_models, rows, K): rows (D g_s)ᵀ
    dense = {"B": torch.bmm(gz.transpose(1, 2), h3).div_(batch)}  # (n_models, K, K)
    if bias is not None:
        dense["bias"] = (g.sum(1) + n_rest * rb).div_(batch)  # (n_models, N)
    rows_out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if learn:
        dense["dec"] = torch.bmm(z.transpose(1, 2), g).div_(batch)  # (n_models, K, N) = Σ_s z_s g_sᵀ
        q = gz.view(m * rows, kk)[row] * val[:, None]  # (n_models·cap, K): x_sj (D g_s)ᵀ per entry
        rows_out["encT"] = (feat, torch.bmm(q.view(m, cap, kk), B).view(m * cap, kk).div_(batch))
    return loss, dense, rows_out


class DeviceState:
    """Per-model training state on the device: learning rates, step counts, the divergence threshold,
    the divergence flags and steps, and the step counter ``step`` (0-d int64, shared by the pack).

    :meth:`apply` performs the update of one step (see the module docstring), without host syncs.
    """

    def __init__(self, st: Student, lrs: list[float], n_steps: list[int], diverge_factor: float,
                 capacity: int) -> None:
        dev, dt = st.teacher.device, st.teacher.dtype
        m = st.n_models
        self.st, self.factor = st, diverge_factor
        self.lr = torch.tensor(lrs, dtype=dt, device=dev)  # (n_models,)
        self.n_steps = torch.tensor(n_steps, dtype=torch.int64, device=dev)
        self.threshold = torch.full((m,), float("inf"), dtype=torch.float64, device=dev)
        self.diverged = torch.zeros(m, dtype=torch.bool, device=dev)
        self.div_step = torch.full((m,), -1, dtype=torch.int64, device=dev)
        self.step = torch.zeros((), dtype=torch.int64, device=dev)
        self.entry_model = torch.arange(m, device=dev).repeat_interleave(capacity)  # (n_models·cap,)

    def set_loss0(self, loss0: torch.Tensor) -> None:
        """Divergence threshold diverge_factor × max(L(t=0), 1e-300) per model."""
        self.threshold.copy_(self.factor * torch.clamp(loss0.to(self.threshold), min=1e-300))

    def apply(self, loss: torch.Tensor, dense: dict[str, torch.Tensor],
              rows: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Freeze models that diverge at this step, θ ← θ − lr_m g for the active ones, step += 1."""
        params = self.st.params
        active = (self.step < self.n_steps) & ~self.diverged  # (n_models,)
        bad = active & (~torch.isfinite(loss) | (loss > self.threshold))
        self.diverged |= bad
        self.div_step.copy_(torch.where(bad, self.step, self.div_step))
        lr = self.lr * (active & ~bad)  # (n_models,) zero for frozen models
        for name, g in dense.items():
            shape = (-1, *([1] * (g.dim() - 1)))
            params[name].sub_(g.nan_to_num_(0.0, 0.0, 0.0).mul_(lr.view(shape)))
        for name, (idx, val) in rows.items():
            p = params[name]
            val.nan_to_num_(0.0, 0.0, 0.0).mul_(lr[self.entry_model][:, None])
            p.view(p.shape[0] * p.shape[1], p.shape[2]).index_add_(0, idx, val, alpha=-1)
        for p in params.values():
            p.masked_fill_(bad.view(-1, *([1] * (p.dim() - 1))), 0.0)
        self.step += 1

    def mutable(self) -> list[torch.Tensor]:
        """Every tensor a step writes (parameters, flags, counter): saved around a warm-up."""
        return [*self.st.params.values(), self.diverged, self.div_step, self.step]
