"""The cost of a reproduction before it runs: model-steps, the estimated wall time of its plan (tasks
timed briefly as they will run) and one cost line per device (this CPU, one GPU by a stated model, a
SLURM cluster), as ``supdyn reproduce --dry-run`` prints them."""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from supdyn.config import RunConfig
from supdyn.train import run_steps


def model_steps(configs: list[RunConfig]) -> int:
    return sum(run_steps(c) for c in configs)


ANALYSIS_S = 2.5
"""Seconds of analysis, figures and report per experiment after training (measured: 25 s for the quick
reproduction's 11 experiments with every run stored, on a 2-core machine)."""


def estimate_seconds(missing: list[RunConfig], kw: dict[str, Any], n_experiments: int,
                     probes: dict[str, Any] | None = None) -> tuple[float, str]:
    """(estimated wall time in seconds, how): each task of the plan timed briefly as it will run
    (:func:`supdyn.sweep.estimate.estimate_sweep`) plus the analysis. ``probes``, if given, receives
    the tasks and their timed seconds (``tasks``, ``per_task``) for :func:`device_costs`."""
    from supdyn.sweep import make_tasks
    from supdyn.sweep.estimate import estimate_sweep

    if not missing:
        return ANALYSIS_S * n_experiments, "every run is stored"
    if kw["device"].startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: got {kw['device']!r} but no CUDA GPU is available here to time the tasks; "
                         "allowed: run the dry run on a machine with the GPU, or --device cpu")
    tasks = make_tasks(missing, max_models=kw["max_models"], device=kw["device"])
    if kw.get("scheduler") or kw.get("slurm") is not None:
        how = f"{len(tasks)} task(s), timed here on {kw['device']} and summed (a cluster runs them in parallel)"
        est = estimate_sweep(tasks, device=kw["device"], executor="local", workers=1)
    else:
        lanes = kw.get("lanes", 1) if kw["device"].startswith("cuda") else 1
        est = estimate_sweep(tasks, device=kw["device"], executor=kw["executor"], workers=kw["workers"])
        how = (f"{len(tasks)} task(s) on {kw['device']}, "
               + (f"{kw['workers']} Dask workers" if kw["executor"] == "dask" else
                  f"{lanes} lanes" if lanes > 1 else "one process"))
    if probes is not None:
        probes.update(tasks=tasks, per_task=est["per_task"])
    return est["seconds"] + ANALYSIS_S * n_experiments, how


def device_costs(missing: list[RunConfig], kw: dict[str, Any], args: argparse.Namespace, n_experiments: int,
                 probes: dict[str, Any]) -> list[str]:
    """One cost line per device for the runs to compute, each split by N: this CPU (the tasks timed
    here, scheduled as this command would run them), one GPU (a stated model from the H200 measurements,
    :func:`supdyn.sweep.estimate.gpu_model_seconds`, not a measurement) and a SLURM cluster of
    ``--slurm-max-jobs`` jobs × ``--slurm-cores`` single-threaded workers, each as fast as one core here
    (the same timed tasks, longest first; queue waits not counted)."""
    from supdyn.sweep.estimate import (DASK_STARTUP, H200_FP32_FLOPS, H200_ROOFLINE_FRACTION, gpu_model_seconds,
                                       schedule)

    tasks, per_task = probes.get("tasks", []), probes.get("per_task", [])
    ns = sorted({c.data.n_features for c in missing})
    extra = ANALYSIS_S * n_experiments
    dask_here = kw["executor"] == "dask" and not kw["device"].startswith("cuda")
    workers = kw["workers"] if dask_here else 1
    jobs = int(getattr(args, "slurm_max_jobs", None) or 10) * int(getattr(args, "slurm_cores", None) or 1)

    def split(fn: Any) -> str:
        if len(ns) < 2:
            return ""
        return " (" + "; ".join(f"N = {n}: {_duration(fn(n))}" for n in ns) + ")"

    def by_n(n: int | None) -> list[float]:
        return [s for t, s in zip(tasks, per_task) if n is None or t[0].data.n_features == n]

    def cpu(n: int | None) -> float:
        sec = by_n(n)
        return (schedule(sec, workers) + DASK_STARTUP if dask_here else float(sum(sec))) + extra

    def gpu(n: int | None) -> float:
        return gpu_model_seconds([c for c in missing if n is None or c.data.n_features == n]) + extra

    def slurm(n: int | None) -> float:
        return schedule(by_n(n), jobs) + DASK_STARTUP + extra

    steps = model_steps(missing)
    return [
        f"cost per device ({len(missing)} run(s) to compute, {steps:,} model-steps; training and analysis):",
        f"  this CPU ({os.cpu_count()} cores; tasks timed here, {workers} worker(s)): {_duration(cpu(None))}"
        + split(cpu),
        f"  one GPU (MODEL, not a measurement, and a lower bound: float32 roofline {H200_FP32_FLOPS / 1e12:.1f} "
        f"TFLOP/s × {H200_ROOFLINE_FRACTION:g}, the H200's measured rate and packed-step fraction, no set-up): "
        f"{_duration(gpu(None))}"
        + split(gpu),
        f"  SLURM, {jobs} single-threaded worker(s) (--slurm-max-jobs × --slurm-cores; each as fast as one core "
        f"here, queue waits not counted; {len(tasks)} task(s)): {_duration(slurm(None))}" + split(slurm),
    ]


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else (f"{seconds / 60:.1f} min" if seconds >= 90
                                                                else f"{seconds:.0f} s")


__all__ = ["ANALYSIS_S", "device_costs", "estimate_seconds", "model_steps"]
