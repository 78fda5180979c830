"""Learning-rate schedules and the time they define: t = Σ_k lr_k, the integrated learning rate.

The rate of step k (k = 0, 1, …; s = k + 1 steps taken once it is done) of a run with peak rate lr,
n = round(t_max / lr) steps and W = ``warmup`` steps is lr · f(s), with f(s) = s / W while s ≤ W, then
    constant   1                                   (W = 0: exactly the paper's constant rate)
    warmup     1
    cosine     lr_final + (1 − lr_final) · ½ (1 + cos(π (s − W) / (n − W)))   (= lr_final at s = n)
    step       decay_factor ^ ⌊(s − W) / decay_every⌋
(see :class:`supdyn.config.TrainConfig`). Time after s steps is T(s) = Σ_{k < s} lr_k: gradient flow
moves by lr_k at step k whatever the schedule, so curves of different schedules and of SGD at a constant
rate are comparable at equal t. At a constant rate T(s) = lr × s exactly, as before schedules existed.

One formula (:func:`factor`, float64 torch operations) serves the host (the times of evaluation points,
:func:`step_times`) and the training step (:class:`Schedule`: per-model tensors on the device, the rate
of the current step from the device's step counter, without a host synchronization).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from supdyn.config import SCHEDULES, RunConfig

KIND = {name: i for i, name in enumerate(SCHEDULES)}  # constant 0, warmup 1, cosine 2, step 3


def run_steps(cfg: RunConfig) -> int:
    """Number of steps of a run: round(t_max / lr), lr the peak rate (t = lr × steps at a constant rate)."""
    return int(round(cfg.train.t_max / cfg.train.lr))


def _params(configs: Sequence[RunConfig]) -> list[list[float]]:
    """Per run: (kind, warmup, n, lr_final, decay_every, decay_factor) as floats."""
    return [[KIND[c.train.schedule], c.train.warmup, run_steps(c), c.train.lr_final, max(c.train.decay_every, 1),
             c.train.decay_factor] for c in configs]


def factor(s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """f(s) (float64) for steps taken s (float64) and schedule parameters p (..., 6) broadcast against s
    (columns as in :func:`_params`; see the module docstring)."""
    kind, w, n, final, every, gamma = p.unbind(-1)
    u = ((s - w) / (n - w).clamp(min=1.0)).clamp(0.0, 1.0)
    cosine = final + (1.0 - final) * 0.5 * (1.0 + torch.cos(math.pi * u))
    step = gamma ** torch.floor((s - w).clamp(min=0.0) / every)
    post = torch.where(kind == KIND["cosine"], cosine, torch.where(kind == KIND["step"], step, torch.ones_like(s)))
    return torch.where(s <= w, s / w.clamp(min=1.0), post)


def rates(cfg: RunConfig) -> np.ndarray:
    """The rate lr_k of every step k = 0 … n − 1 of a run, float64 (n,)."""
    n = run_steps(cfg)
    if cfg.train.schedule == "constant":
        return np.full(n, cfg.train.lr)
    s = torch.arange(1, n + 1, dtype=torch.float64)
    p = torch.tensor(_params([cfg])[0], dtype=torch.float64)
    return cfg.train.lr * factor(s, p).numpy()


def step_times(cfg: RunConfig) -> np.ndarray | None:
    """T(s) = Σ_{k < s} lr_k for s = 0 … n (float64, (n + 1,)), or None at a constant rate (T = lr × s)."""
    if cfg.train.schedule == "constant":
        return None
    return np.concatenate([[0.0], np.cumsum(rates(cfg))])


def times_of(cfg: RunConfig, steps: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """The time t after ``steps`` steps (float64): lr × steps at a constant rate, else T(steps).
    ``table``: :func:`step_times` of the run when already computed."""
    steps = np.asarray(steps, dtype=np.int64)
    table = step_times(cfg) if table is None and cfg.train.schedule != "constant" else table
    return steps * cfg.train.lr if table is None else table[np.clip(steps, 0, len(table) - 1)]


def steps_at(cfg: RunConfig, t: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """The step nearest to each time t (int64): round(t / lr) at a constant rate (clipped to [0, n]), else
    the s whose T(s) is nearest (ties: the earlier)."""
    t = np.asarray(t, dtype=np.float64)
    table = step_times(cfg) if table is None and cfg.train.schedule != "constant" else table
    if table is None:
        return np.clip(np.round(t / cfg.train.lr), 0, run_steps(cfg)).astype(np.int64)
    hi = np.clip(np.searchsorted(table, t), 1, len(table) - 1)
    lo = hi - 1
    return np.where(np.abs(table[lo] - t) <= np.abs(table[hi] - t), lo, hi).astype(np.int64)


class Schedule:
    """The rates of a pack of runs on the device: :meth:`rates` (n_models,) of the current step.

    A pack where every run has the constant schedule returns its peak rates as they are (the paper's
    step, unchanged bit for bit); otherwise f is computed in float64 from the step counter and cast.
    """

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> None:
        self.lr = torch.tensor([c.train.lr for c in configs], dtype=dtype, device=device)  # (n_models,)
        self.constant = all(c.train.schedule == "constant" for c in configs)
        self.lr64 = torch.tensor([c.train.lr for c in configs], dtype=torch.float64, device=device)
        self.p = torch.tensor(_params(configs), dtype=torch.float64, device=device)  # (n_models, 6)

    def rates(self, step: torch.Tensor) -> torch.Tensor:
        """lr_m · f_m(step + 1) for every model m, in the parameters' dtype (``step``: 0-d int64 tensor)."""
        if self.constant:
            return self.lr
        s = (step + 1).to(torch.float64).expand(self.lr64.shape)
        return (self.lr64 * factor(s, self.p)).to(self.lr.dtype)
