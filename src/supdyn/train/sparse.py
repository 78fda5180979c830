"""The CPU training step: sparse-aware, with data-dependent shapes (the fastest path on a CPU).

Each step takes a fresh batch per model (from the model's ``train`` stream, a
:class:`supdyn.data.BatchStream`: 16 steps' batches per sampler call at batch 1024), computes the loss
L = (1/batch) Σ_s ½‖y*_s − y_s‖² and its hand-written gradient (:func:`supdyn.model.step_grads`:
compaction of the non-empty samples and the active features, gather forward, sparse backward), and
updates every model m with the optimizer of the run (:mod:`supdyn.train.optim`; SGD:
θ ← θ − lr_m ∇θ L) at its own rate lr_m · f_m(step + 1) (:mod:`supdyn.train.schedule`).

A model diverges when its batch loss is non-finite or exceeds ``diverge_factor`` × its loss at t = 0;
it is then frozen (parameters zeroed, its curve NaN afterwards) and the step is recorded; the others go
on. The batch loss is read on the host every step (the step's one sync of its own; the sampler and the
compaction add a few small ones): see :mod:`supdyn.train.static` for the device path without them.
Dense gradients update whole parameters; row gradients (none: rows of Bᵀ, learnable: rows of Eᵀ, one
per active feature) update only those rows.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig
from supdyn.data import BatchStream, SparseBatch, draw_steps, stream_seed, torch_generator
from supdyn.data.static_sampler import StaticSampler, StaticStream
from supdyn.model import Student, build_student, step_grads
from supdyn.train.common import Recorder, RunResult, eval_set, param_dtype, run_steps
from supdyn.train.optim import SGD, Hyper, Optimizer, State, optimizer
from supdyn.train.schedule import Schedule


def train_step(st: Student, batches: Iterator[SparseBatch],
               lr: torch.Tensor | Callable[[np.ndarray], torch.Tensor], *, opt: Optimizer | None = None,
               state: State | None = None, step: torch.Tensor | None = None) -> np.ndarray:
    """One online step of every model: the next batch of ``batches`` (e.g. a
    :class:`supdyn.data.BatchStream`), loss, gradients, the optimizer's update (default SGD:
    θ ← θ − lr_m ∇θ L).

    ``lr`` is (n_models,) or a function of the batch loss (host numpy, (n_models,)) returning it
    (used by :func:`train_sparse` to freeze diverged models before the update). Returns the batch loss
    (its copy to the host is the step's one sync of its own).
    """
    x = next(batches)
    batch_loss, grads, rows = step_grads(st, x)
    bl = batch_loss.cpu().numpy()
    opt = opt or SGD()
    opt.update(st, {} if state is None else state, grads, rows, lr(bl) if callable(lr) else lr,
               torch.zeros((), dtype=torch.int64) if step is None else step)
    return bl


def train_sparse(configs: list[RunConfig], device: torch.device, progress: bool,
                 on_eval: Callable[[int], None] | None) -> list[RunResult]:
    """Train ``configs`` (one group, see :func:`supdyn.train.group_key`) with :func:`train_step`."""
    start = time.perf_counter()
    c0 = configs[0]
    m = len(configs)
    dtype = param_dtype(c0)
    st = build_student(configs, device=device, dtype=dtype)
    train_gens = [torch_generator(stream_seed(c.seed, "train"), device) for c in configs]
    vmax = [c.data.value_max for c in configs]
    if st.groups is None:
        batches = BatchStream(st.p, c0.train.batch, train_gens, dtype, vmax=vmax)
    else:  # correlated features: the static sampler's batches (the same data as the static engine)
        smp = StaticSampler(st.p, st.teacher, c0.train.batch, [stream_seed(c.seed, "train") for c in configs],
                            dtype, groups=st.groups, vmax=vmax)
        batches = StaticStream(smp, draw_steps(c0.train.batch))
    rec = Recorder(configs, st, eval_set(configs, st, device))
    opt = optimizer(c0.train.optimizer, Hyper.of(configs, device, dtype))
    opt_state = opt.init(st)
    schedule = Schedule(configs, device, dtype)
    step_t = torch.zeros((), dtype=torch.int64, device=device)
    n_steps = np.array([run_steps(c) for c in configs])
    active = n_steps > 0
    diverged = np.zeros(m, dtype=bool)
    div_step: list[int | None] = [None] * m
    events = set(rec.events)
    total = int(n_steps.max())

    def freeze(bl: np.ndarray) -> torch.Tensor:
        """Freeze the models whose batch loss diverged at ``step``; the learning rates of the step."""
        bad = active & (~np.isfinite(bl) | (bl > c0.train.diverge_factor * np.maximum(rec.loss0, 1e-300)))
        for i in np.flatnonzero(bad):
            diverged[i], active[i] = True, False
            div_step[i] = step
            for p in st.params.values():
                p[i].zero_()
        return schedule.rates(step_t) * torch.as_tensor(active, device=device, dtype=dtype)

    bar = tqdm(total=total, disable=not progress, unit="step", desc=f"train {m} model(s)",
               mininterval=0.5, leave=False)
    for step in range(total + 1):
        if step in events:
            rec.evaluate(step, diverged, on_eval)
        if step == total:
            break
        active &= step < n_steps
        if not active.any():
            break
        train_step(st, batches, freeze, opt=opt, state=opt_state, step=step_t)
        step_t += 1
        bar.update(1)
    bar.close()
    return rec.results(diverged, div_step, time.perf_counter() - start, device, "sparse")
