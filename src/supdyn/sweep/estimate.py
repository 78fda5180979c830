"""Wall-time estimate of a sweep before it runs (``--dry-run``): each task is timed briefly on this
machine as it will run (its real pack, engine, device and thread count), extrapolated to its number of
steps and evaluations, and the tasks are scheduled on the executor's workers or lanes.

Per task: Σ_phases steps × step time + evaluations × evaluation time + set-up, where
* static engine (CUDA): :class:`supdyn.train.StaticRunner` packs, graphs captured, timed over a few
  blocks (the step does the same work at every training state). A pack sheds its finished models
  (:data:`supdyn.train.engine.SHRINK_FRACTION`), so the phases between the runs' step counts have fewer
  models: the step time is timed at the largest and the smallest pack size and interpolated linearly;
* sparse engine (CPU): the pack trained for ``PROBE_STEPS`` steps from t = 0 with the worker's thread
  count; the step gets cheaper as the outputs' errors become sparse, by the measured factor
  :data:`LATE_STEP_FACTOR` after the first ``EARLY_STEPS`` steps;
* evaluation: one evaluation of the pack (sampled or exact), timed, times the number of evaluation steps.
Schedule: the local executor's time is the sum of its tasks' times, also with CUDA lanes (measured on
one H200: 4 lanes took the quick reproduction from 61.5 s to 58.1 s, so their overlap is not counted);
a Dask LocalCluster runs ``workers`` single-threaded tasks at once (longest first) after a start-up of
about :data:`DASK_STARTUP` seconds.
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
from supdyn.train import StaticRunner, eval_steps, flush_denormals, group_key, resolve_engine, run_steps
from supdyn.train.common import eval_set
from supdyn.train.engine import SHRINK_FRACTION, matmul_precision
from supdyn.train.memory import eval_chunk

PROBE_STEPS = 32
PROBE_SECONDS = 1.5
"""A sparse probe stops after PROBE_STEPS steps or PROBE_SECONDS of stepping (at least 2 steps), so that
large shapes (N = 4096, K = 1024: ~1 s per packed step on one core) are probed in seconds."""
EARLY_STEPS = 300
LATE_STEP_FACTOR = 0.7
"""Sparse CPU step after ``EARLY_STEPS`` steps / at t = 0 (benchmarks/README.md: 0.56–0.71 measured)."""
DASK_STARTUP = 6.0


@dataclass
class TaskEstimate:
    """One task's probe: its estimated wall time alone, seconds."""

    seconds: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _eval_time(configs: list[RunConfig], st, device: torch.device) -> float:
    xs = eval_set(configs, st, device)
    t0 = time.perf_counter()
    if xs is None:
        population_loss(st)
    else:
        sampled_loss(st, xs, chunk=eval_chunk(len(configs), configs[0].data.n_features))
    _sync(device)
    return time.perf_counter() - t0


def _n_events(configs: list[RunConfig]) -> int:
    steps: set[int] = set()
    for c in configs:
        steps.update(int(s) for s in eval_steps(c))
    return len(steps)


def phases(n_steps: Sequence[int]) -> list[tuple[int, int]]:
    """(pack size, steps) of each phase of a static pack whose models stop after ``n_steps`` steps and
    which keeps only its active models once they are at most SHRINK_FRACTION of it."""
    left = sorted(int(s) for s in n_steps)
    size, done, out = len(left), 0, []
    for i, s in enumerate(left):
        if s > done:
            out.append((size, s - done))
            done = s
        active = len(left) - i - 1
        if 0 < active <= SHRINK_FRACTION * size:
            size = active
    return out


def _static_step(configs: list[RunConfig], dev: torch.device) -> tuple[float, float, StaticRunner]:
    """(set-up seconds, seconds per step) of a static pack."""
    t0 = time.perf_counter()
    run = StaticRunner(configs, dev)
    run.state.n_steps.fill_(1 << 40)
    run.advance(2 * run.block)  # build, capture and warm up
    _sync(dev)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    run.launch(run.block)
    _sync(dev)
    reps = max(1, min(8, int(0.3 / max(time.perf_counter() - t1, 1e-6))))
    t1 = time.perf_counter()
    for _ in range(reps):
        run.launch(run.block)
    _sync(dev)
    return setup, (time.perf_counter() - t1) / (reps * run.block), run


def probe_static(configs: list[RunConfig], dev: torch.device) -> TaskEstimate:
    ph = phases([run_steps(c) for c in configs])
    sizes = sorted({n for n, _ in ph})
    setup, t_big, run = _static_step(configs, dev)
    ev = _eval_time(configs, run.st, dev)
    del run
    t_small = t_big
    if sizes and sizes[0] < len(configs):
        _, t_small, run = _static_step(configs[:sizes[0]], dev)
        del run
    lo, hi = (sizes[0], len(configs)) if sizes else (len(configs), len(configs))

    def step_time(n: int) -> float:
        return t_big if hi == lo else t_small + (t_big - t_small) * (n - lo) / (hi - lo)

    return TaskEstimate(sum(s * step_time(m) for m, s in ph) + ev * _n_events(configs) + setup * len(sizes))


def probe_sparse(configs: list[RunConfig], dev: torch.device, cache: dict | None = None) -> TaskEstimate:
    from supdyn.data import BatchStream, stream_seed, torch_generator
    from supdyn.model import build_student
    from supdyn.train import param_dtype, train_step

    c0 = configs[0]
    t0 = time.perf_counter()
    st = build_student(configs, device=dev, dtype=param_dtype(c0))
    gens = [torch_generator(stream_seed(c.seed, "train"), dev) for c in configs]
    batches = BatchStream(st.p, c0.train.batch, gens, param_dtype(c0))
    lr = torch.tensor([c.train.lr for c in configs], dtype=param_dtype(c0), device=dev)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = 0
    while n < PROBE_STEPS and (n < 2 or time.perf_counter() - t1 < PROBE_SECONDS):
        train_step(st, batches, lr)
        n += 1
    step = (time.perf_counter() - t1) / n
    steps = max(run_steps(c) for c in configs)
    early = min(steps, EARLY_STEPS)
    key = (group_key(c0), len(configs), c0.train.per_feature)  # an evaluation's cost depends on the shape only
    if cache is None or key not in cache:
        ev = _eval_time(configs, st, dev)
        if cache is not None:
            cache[key] = ev
    else:
        ev = cache[key]
    seconds = step * (early + LATE_STEP_FACTOR * (steps - early)) + ev * _n_events(configs)
    return TaskEstimate(seconds + setup)


def probe_task(task: Sequence[RunConfig], device: str, threads: int | None = None,
               cache: dict | None = None) -> TaskEstimate:
    """Time one task briefly on ``device`` (see the module docstring). ``cache``: evaluation times of the
    sparse engine by shape and pack size, shared between the tasks of one estimate."""
    configs = list(task)
    dev = torch.device(device)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with flush_denormals(), torch.no_grad(), matmul_precision(configs[0].train.dtype == "tf32"):
            if resolve_engine("auto", device) == "static":
                return probe_static(configs, dev)
            return probe_sparse(configs, dev, cache)
    finally:
        torch.set_num_threads(old)


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
    cache: dict = {}
    seconds = [probe_task(t, device, 1 if dask else None, cache).seconds for t in tasks]
    wall = schedule(seconds, workers) + DASK_STARTUP if dask else float(np.sum(seconds))
    return {"seconds": float(wall), "task_seconds": float(np.sum(seconds)), "n_tasks": len(tasks),
            "per_task": [float(x) for x in seconds]}


# -- a stated model of one GPU (not a measurement) ------------------------------------------------------

H200_FP32_FLOPS = 46416e9
"""Float32 matmul rate of one H200, measured (2048² matmul, benchmarks/README.md, 2026-12-04)."""
H200_ROOFLINE_FRACTION = 0.68
"""Fraction of that rate the static engine's packed step reached, measured 0.66–0.71 (K 256 and 512,
N 1024, 64–256 models; benchmarks/README.md). Assumed to hold at other N and K: a model, not a measurement."""
EVAL_STEP_FRACTION = 1.0 / 3.0
"""An evaluation sample costs a forward pass, about a third of a training sample's forward and backward."""


def gpu_model_seconds(configs: Sequence[RunConfig], *, flops: float = H200_FP32_FLOPS,
                      fraction: float = H200_ROOFLINE_FRACTION) -> float:
    """MODELLED seconds of training ``configs`` on one GPU (every run packed, no lanes counted):
    Σ_runs [steps + evaluations × eval_size / batch × EVAL_STEP_FRACTION] × 4·batch·N·K / (flops × fraction),
    the dense-output roofline of the static engine's step (benchmarks/README.md) at the measured fraction.
    For float32 runs; a stated model from the H200 measurements, not a measurement of these runs, and a
    lower bound: it counts no set-up, graph capture or unpacked steps (one model alone ran at 0.2 of the
    packed rate), so small sweeps take several times longer (``--full --only fig12``, 18 runs: 8.3 s by
    this model, 44.5 s measured with analysis on the H200)."""
    total = 0.0
    for c in configs:
        step_flops = 4.0 * c.train.batch * c.data.n_features * c.model.d_hidden
        evals = len(eval_steps(c)) * c.train.eval_size / c.train.batch * EVAL_STEP_FRACTION
        total += (run_steps(c) + evals) * step_flops / (flops * fraction)
    return total
