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
* the optimizer's update (:mod:`supdyn.train.optim`) with per-model rates lr_m · f_m(step + 1)
  (:class:`supdyn.train.schedule.Schedule`, from the device's step counter); divergence (non-finite batch loss or above
  ``diverge_factor`` × the loss at t = 0) freezes the model on the device (parameters zeroed, the step
  recorded), and a model past its own number of steps takes no more steps (lr 0). The host reads the
  flags only at evaluation points.
Dense matmuls cost 4·rows·N·K flops per model and step (6 for learnable), the dense-output bound.
"""

from __future__ import annotations

import torch

from supdyn.model import Student, static_grads
from supdyn.train.optim import Hyper, optimizer
from supdyn.train.schedule import Schedule

__all__ = ["DeviceState", "static_grads"]


class DeviceState:
    """Per-model training state on the device: learning rates, step counts, the divergence threshold,
    the divergence flags and steps, and the step counter ``step`` (0-d int64, shared by the pack).

    :meth:`apply` performs the update of one step (see the module docstring), without host syncs.
    ``schedule`` (default: the constant rates ``lrs``) and ``hyper`` (the optimizer's per-model
    hyperparameters) come from the pack's configs.
    """

    def __init__(self, st: Student, lrs: list[float], n_steps: list[int], diverge_factor: float,
                 optimizer_name: str = "sgd", *, schedule: Schedule | None = None,
                 hyper: Hyper | None = None) -> None:
        dev, dt = st.teacher.device, st.teacher.dtype
        m = st.n_models
        self.st, self.factor = st, diverge_factor
        self.lr = torch.tensor(lrs, dtype=dt, device=dev)  # (n_models,)
        self.n_steps = torch.tensor(n_steps, dtype=torch.int64, device=dev)
        self.threshold = torch.full((m,), float("inf"), dtype=torch.float64, device=dev)
        self.diverged = torch.zeros(m, dtype=torch.bool, device=dev)
        self.div_step = torch.full((m,), -1, dtype=torch.int64, device=dev)
        self.step = torch.zeros((), dtype=torch.int64, device=dev)
        self.schedule = schedule
        self.opt = optimizer(optimizer_name, hyper)
        self.opt_state = self.opt.init(st)

    def set_loss0(self, loss0: torch.Tensor) -> None:
        """Divergence threshold diverge_factor × max(L(t=0), 1e-300) per model."""
        self.threshold.copy_(self.factor * torch.clamp(loss0.to(self.threshold), min=1e-300))

    def apply(self, loss: torch.Tensor, dense: dict[str, torch.Tensor],
              rows: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Freeze models that diverge at this step, the optimizer's update for the active ones
        (lr_m = 0 for the others), step += 1."""
        params = self.st.params
        active = (self.step < self.n_steps) & ~self.diverged  # (n_models,)
        bad = active & (~torch.isfinite(loss) | (loss > self.threshold))
        self.diverged |= bad
        self.div_step.copy_(torch.where(bad, self.step, self.div_step))
        rate = self.lr if self.schedule is None else self.schedule.rates(self.step)
        lr = rate * (active & ~bad)  # (n_models,) zero for frozen models
        self.opt.update(self.st, self.opt_state, dense, rows, lr, self.step)
        for p in params.values():
            p.masked_fill_(bad.view(-1, *([1] * (p.dim() - 1))), 0.0)
        self.step += 1

    def mutable(self) -> list[torch.Tensor]:
        """Every tensor a step writes (parameters, optimizer state, flags, counter): saved around a warm-up."""
        slots = [t for per in self.opt_state.values() for t in per.values()]
        return [*self.st.params.values(), *slots, self.diverged, self.div_step, self.step]
