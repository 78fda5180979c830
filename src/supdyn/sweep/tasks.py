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
from supdyn.train import group_key, run_steps, train
from supdyn.train.memory import auto_max_models


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


def resolve_max_models(max_models: int | str | None, device: str, cfg: RunConfig) -> int:
    """Runs per task for ``cfg``'s shape: an integer as given; ``auto`` (or None) is 16 on the CPU and,
    on CUDA, the most models that fit in 80 % of the GPU's free memory
    (:func:`supdyn.train.memory.auto_max_models`; 256 when no GPU is visible here, e.g. a remote cluster)."""
    if max_models not in (None, "auto"):
        return int(max_models)
    if not str(device).startswith("cuda"):
        return DEFAULT_MAX_MODELS
    if not torch.cuda.is_available():
        return REMOTE_GPU_MAX_MODELS
    dev = torch.device(device)
    free, _ = torch.cuda.mem_get_info(dev)
    return auto_max_models(cfg, free)


DEFAULT_MAX_MODELS = 16
REMOTE_GPU_MAX_MODELS = 256


def make_tasks(configs: Sequence[RunConfig], *, max_models: int | str | None = DEFAULT_MAX_MODELS,
               device: str = "cpu") -> list[list[RunConfig]]:
    """Batches of runs that train together: same group key, balanced sizes, at most ``max_models``
    (see :func:`resolve_max_models`) each.

    On the CPU runs are also grouped by their number of steps (:func:`supdyn.store.pack`: a pack runs
    until its longest member is done, and the sparse step keeps computing the finished ones). On CUDA
    (the static engine) every run of one shape goes into as few tasks as memory allows, whatever its
    learning rate and step count (finished models freeze); runs are sorted by their number of steps,
    so that runs of similar length share a task when a shape needs several. Each group is cut into
    ``ceil(n / max_models)`` contiguous tasks of (almost) equal size.
    """
    if max_models not in (None, "auto") and (isinstance(max_models, bool) or not isinstance(max_models, int)
                                             or max_models < 1):
        raise ValueError(f"max_models: got {max_models!r}; allowed: an integer >= 1 or 'auto'")
    ordered = sorted(configs, key=run_steps)
    tasks = []
    if str(device).startswith("cuda"):
        groups: dict[tuple, list[RunConfig]] = {}
        for c in ordered:
            groups.setdefault(group_key(c), []).append(c)
        packs = list(groups.values())
    else:
        packs = pack(ordered, max_models=max(len(ordered), 1))
    for group in packs:
        most = resolve_max_models(max_models, device, group[0])
        size = math.ceil(len(group) / math.ceil(len(group) / most))
        tasks += [group[i:i + size] for i in range(0, len(group), size)]
    return tasks


def plan_sweep(configs: Sequence[RunConfig], store: Store, *, max_models: int | str | None = DEFAULT_MAX_MODELS,
               device: str = "cpu") -> SweepPlan:
    """The tasks a sweep would run now (only runs missing from ``store``)."""
    configs = list(configs)
    n_runs = len({c.run_id for c in configs})
    todo = store.missing(configs)
    tasks = make_tasks(todo, max_models=max_models, device=device)
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
               torch_threads: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Train the runs of one task together and save each to the store at ``root`` (``progress``: a
    per-step progress bar).

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
        for res in train(todo, device=device, progress=progress):
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


