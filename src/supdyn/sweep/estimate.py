"""Wall-time estimate of a sweep before it runs (``--dry-run``): each task is timed briefly on this
machine as it will run (its real pack, engine, device and thread count), extrapolated to its number of
steps and evaluations, and the tasks are scheduled on the executor's workers (longest first).

Per task: ``steps × step time + evaluations × evaluation time + set-up``, where
* static engine (CUDA): a :class:`supdyn.train.StaticRunner` of the whole pack, graphs captured, timed
  over a few blocks (its step time does not depend on the training state);
* sparse engine (CPU): the pack trained for ``PROBE_STEPS`` steps from t = 0 with the worker's thread
  count; the step gets cheaper as the outputs' errors become sparse, by the measured factor
  :data:`LATE_STEP_FACTOR` after the first ``EARLY_STEPS`` steps;
* evaluation: one evaluation of the pack (sampled or exact), timed, times the number of evaluation steps.
Workers: the local executor runs the tasks one after the other; a Dask LocalCluster runs ``workers``
single-threaded tasks at once (longest-processing-time-first schedule) after a start-up of about
:data:`DASK_STARTUP` seconds.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from supdyn.config import RunConfig
from supdyn.model import population_loss, sampled_loss
from supdyn.train import StaticRunner, eval_steps, flush_denormals, resolve_engine, run_steps
from supdyn.train.common import eval_set
from supdyn.train.memory import eval_chunk

PROBE_STEPS = 32
EARLY_STEPS = 300
LATE_STEP_FACTOR = 0.7
"""Sparse CPU step after ``EARLY_STEPS`` steps / at t = 0 (benchmarks/README.md: 0.56–0.71 measured)."""
DASK_STARTUP = 6.0


@dataclass
class TaskEstimate:
    """One task's probe: step time at t = 0, late-step factor, evaluation time and count, set-up."""

    n_models: int
    steps: int
    step_s: float
    eval_s: float
    n_evals: int
    setup_s: float
    late_factor: float = 1.0

    @property
    def seconds(self) -> float:
        early = min(self.steps, EARLY_STEPS)
        late = self.steps - early
        return self.step_s * (early + self.late_factor * late) + self.eval_s * self.n_evals + self.setup_s


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _eval_time(configs: list[RunConfig], run_st, device: torch.device) -> float:
    xs = eval_set(configs, run_st, device)
    chunk = eval_chunk(len(configs), configs[0].data.n_features)
    t0 = time.perf_counter()
    if xs is None:
        population_loss(run_st)
    else:
        sampled_loss(run_st, xs, chunk=chunk)
    _sync(device)
    return time.perf_counter() - t0


def probe_task(task: Sequence[RunConfig], device: str, threads: int | None = None) -> TaskEstimate:
    """Time one task briefly on ``device`` (see the module docstring)."""
    configs = list(task)
    dev = torch.device(device)
    steps = max(run_steps(c) for c in configs)
    n_evals = _n_events(configs)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with flush_denormals(), torch.no_grad():
            t0 = time.perf_counter()
            if resolve_engine("auto", device) == "static":
                run = StaticRunner(configs, dev)
                run.advance(2 * run.block)  # build, capture and warm up
                _sync(dev)
                setup = time.perf_counter() - t0
                reps = max(1, min(8, int(0.5 / max(_time_block(run, dev), 1e-6))))
                t1 = time.perf_counter()
                for _ in range(reps):
                    run.launch(run.block)
                _sync(dev)
                step_s = (time.perf_counter() - t1) / (reps * run.block)
                est = TaskEstimate(len(configs), steps, step_s, _eval_time(configs, run.st, dev), n_evals, setup)
            else:
                from supdyn.data import BatchStream, stream_seed, torch_generator
                from supdyn.model import build_student
                from supdyn.train import param_dtype, train_step

                c0 = configs[0]
                st = build_student(configs, device=dev, dtype=param_dtype(c0))
                gens = [torch_generator(stream_seed(c.seed, "train"), dev) for c in configs]
                batches = BatchStream(st.p, c0.train.batch, gens, param_dtype(c0))
                lr = torch.tensor([c.train.lr for c in configs], dtype=param_dtype(c0), device=dev)
                setup = time.perf_counter() - t0
                t1 = time.perf_counter()
                for _ in range(PROBE_STEPS):
                    train_step(st, batches, lr)
                step_s = (time.perf_counter() - t1) / PROBE_STEPS
                est = TaskEstimate(len(configs), steps, step_s, _eval_time(configs, st, dev), n_evals, setup,
                                   LATE_STEP_FACTOR)
    finally:
        torch.set_num_threads(old)
    return est


def _time_block(run: StaticRunner, dev: torch.device) -> float:
    t0 = time.perf_counter()
    run.launch(run.block)
    _sync(dev)
    return time.perf_counter() - t0


def _n_events(configs: list[RunConfig]) -> int:
    steps = set()
    for c in configs:
        steps.update(int(s) for s in eval_steps(c))
    return len(steps)


def schedule(seconds: list[float], workers: int) -> float:
    """Makespan of tasks on ``workers`` identical workers, longest first, each to the first free worker."""
    free = [0.0] * max(1, workers)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def estimate_sweep(tasks: list[list[RunConfig]], *, device: str, executor: str, workers: int
                   ) -> dict[str, float]:
    """{"seconds": the estimated wall time of training the tasks, "task_seconds": their sum, ...}."""
    dask = executor == "dask" and not device.startswith("cuda")
    threads = 1 if dask else None
    per = [probe_task(t, device, threads).seconds for t in tasks]
    wall = schedule(per, workers) + DASK_STARTUP if dask else float(np.sum(per))
    return {"seconds": float(wall), "task_seconds": float(np.sum(per)), "n_tasks": len(tasks)}
