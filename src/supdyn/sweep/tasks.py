"""The unit of work of a sweep: packing runs into tasks, and the task itself (:func:`train_task`).

A task is a plain function of config dicts, a store root and a device, so that any executor (this
process, a Dask worker, a SLURM job) can run it; it writes each finished run to the store itself.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig, from_dict
from supdyn.store import Store, pack
from supdyn.train import run_steps, train


@dataclass
class SweepPlan:
    """What a sweep would do: ``tasks`` are the batches of missing runs."""

    n_runs: int
    n_cached: int
    tasks: list[list[RunConfig]]
    model_steps: int  # Σ steps over the runs still to compute

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return {"n_runs": self.n_runs, "n_cached": self.n_cached, "n_todo": self.n_runs - self.n_cached,
                "n_tasks": self.n_tasks, "model_steps": self.model_steps}


def task_cost(task: Sequence[RunConfig]) -> int:
    """Rough cost of a task (models × steps × K × N), the Dask priority: the longest tasks start first
    so that no long task is left running alone at the end of a sweep."""
    c = task[0]
    return len(task) * run_steps(c) * c.model.d_hidden * c.data.n_features


def make_tasks(configs: Sequence[RunConfig], *, max_models: int = 16) -> list[list[RunConfig]]:
    """Batches of runs that train together: same group key, similar step counts, balanced sizes.

    Runs are sorted by their number of steps (stable), grouped with :func:`supdyn.store.pack` and
    each group is cut into ``ceil(n / max_models)`` contiguous tasks of (almost) equal size.
    """
    if max_models < 1:
        raise ValueError(f"max_models: got {max_models!r}; allowed: an integer >= 1")
    ordered = sorted(configs, key=run_steps)
    tasks = []
    for group in pack(ordered, max_models=max(len(ordered), 1)):
        size = math.ceil(len(group) / math.ceil(len(group) / max_models))
        tasks += [group[i:i + size] for i in range(0, len(group), size)]
    return tasks


def plan_sweep(configs: Sequence[RunConfig], store: Store, *, max_models: int = 16) -> SweepPlan:
    """The tasks a sweep would run now (only runs missing from ``store``)."""
    configs = list(configs)
    n_runs = len({c.run_id for c in configs})
    todo = store.missing(configs)
    tasks = make_tasks(todo, max_models=max_models)
    return SweepPlan(n_runs=n_runs, n_cached=n_runs - len(todo), tasks=tasks,
                     model_steps=sum(run_steps(c) for c in todo))


_MALLOC_DONE = False


def _restore_malloc_thresholds() -> None:
    """Undo the effect of MALLOC_TRIM_THRESHOLD_ in this process (glibc only, once per process).

    Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 (see :func:`_dask_client`); setting both
    thresholds (32 MiB mmap, 64 MiB trim) lets large buffers be reused. Covers workers of any cluster.
    """
    global _MALLOC_DONE
    if _MALLOC_DONE or "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    _MALLOC_DONE = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def train_task(cfg_dicts: list[dict[str, Any]], root: str, device: str = "cpu",
               torch_threads: int | None = None) -> dict[str, Any]:
    """Train the runs of one task together and save each to the store at ``root``.

    Runs already stored (e.g. by an earlier attempt of this task on a worker that then died) are
    skipped. Returns a small summary; the arrays stay in the store.
    """
    if torch_threads is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    _restore_malloc_thresholds()
    store = Store(root)
    configs = [from_dict(d) for d in cfg_dicts]
    todo = store.missing(configs)
    saved = []
    if todo:
        for res in train(todo, device=device, progress=False):
            if store.save(res):
                saved.append(res.config.run_id)
    return {"saved": saved, "skipped": len(configs) - len(todo), "host": socket.gethostname(),
            "pid": os.getpid()}


def submit_kwargs(device: str, key: str) -> dict[str, Any]:
    """Keyword arguments of ``client.submit`` for one task (CUDA tasks require a ``GPU`` resource)."""
    kw: dict[str, Any] = {"pure": False, "key": key}
    if device.startswith("cuda"):
        kw["resources"] = {"GPU": 1}
    return kw


class Tracker:
    """Attempts, failures and the progress bar, shared by both executors."""

    def __init__(self, store: Store, retries: int, bar: tqdm):
        self.store, self.retries, self.bar = store, retries, bar
        self.failed: list[tuple[str, str]] = []

    def done(self, task: list[RunConfig]) -> None:
        self.bar.update(len(task))

    def fail(self, task: list[RunConfig], attempt: int, error: str) -> list[tuple[list[RunConfig], int]]:
        """Handle a failed attempt; returns the (single-run) tasks to try again."""
        again = []
        for cfg in task:
            if cfg in self.store:  # stored before the failure (or by another writer)
                self.bar.update(1)
            elif attempt <= self.retries:
                again.append(([cfg], attempt + 1))
            else:
                self.store.mark_failed(cfg, error)
                self.failed.append((cfg.run_id, error))
                self.bar.update(1)
        return again


def error_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


