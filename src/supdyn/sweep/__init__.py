"""Scale-out: train a list of runs as batched tasks, locally or on a Dask cluster, into a shared store.

The store is the source of truth. A sweep first computes ``store.missing(configs)``; the missing runs
are packed into tasks (runs sharing :func:`supdyn.train.group_key`, sorted by their number of steps
so that the members of a batch finish together, at most ``max_models`` per task). Each task is the
plain function :func:`train_task` (config dicts, store root, device): it trains its runs together and
writes each finished run to the store itself (atomically, ``Store.save``), so the client never holds
the results, and a sweep stopped at any point (Ctrl-C, ``kill -9`` of the client or of a worker)
and started again computes only what is still missing.

Executors:
    ``local``  tasks one after the other in this process (torch's default intra-op threads).
    ``dask``   a ``distributed.LocalCluster`` of ``workers`` processes (1 thread each), an existing
               cluster (``scheduler`` address of ``dask scheduler`` / ``dask worker --nthreads 1``),
               or a ``dask_jobqueue.SLURMCluster`` (``slurm``: :class:`SlurmOptions`, the optional
               extra ``supdyn[slurm]``) that scales adaptively between 0 and ``max_jobs`` jobs.
               Every Dask task sets ``torch.set_num_threads(1)``: one worker process per core.

Failures: a task that raises (or whose worker died more often than Dask's
``distributed.scheduler.allowed-failures``) is resubmitted split into single-run tasks, so one bad
run does not sink its batch; a run that failed ``retries + 1`` times is recorded with
``Store.mark_failed`` and listed in the report, and the sweep goes on. A worker that dies loses only
the task it was running: Dask reschedules it, and the task skips runs already in the store.

GPU: ``device="cuda"`` trains on CUDA with the static engine; the local executor packs every run of one
shape into as few tasks as GPU memory allows and trains ``lanes`` tasks at once on separate CUDA streams
(:mod:`supdyn.sweep.lanes`). Dask workers on GPU nodes declare a ``GPU`` resource
(``dask worker --resources GPU=1``; a LocalCluster or SLURM job gets it automatically) and every
CUDA task requires one (:func:`submit_kwargs`).

Compute-or-load: :func:`ensure` returns the stored runs of a list of configs, computing the missing
ones with :func:`run_sweep` in this process first (the one path that trains runs into a store).

Modules: ``tasks`` (packing runs into tasks, the task, the failure tracker), ``cluster`` (Dask
clusters and the Dask executor; Dask is imported there only, inside functions) and this one (the sweep
and its options).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig
from supdyn.store import Store, StoredRun, StoreWriteError
from supdyn.sweep.cluster import SlurmOptions, build_slurm_cluster, check_tasks_fit, run_dask
from supdyn.sweep.lanes import GPU_LANES, run_lanes
from supdyn.sweep.tasks import (SweepPlan, Tracker, error_line, make_tasks, plan_sweep, submit_kwargs,
                                task_cost, train_task)
from supdyn.train import run_steps

__all__ = ["EXECUTORS", "SlurmOptions", "SweepPlan", "SweepReport", "build_slurm_cluster", "check_device", "ensure",
           "executor_options", "make_tasks", "plan_sweep", "run_steps", "run_sweep", "submit_kwargs",
           "task_cost", "train_task"]

EXECUTORS = ("local", "dask")


@dataclass
class SweepReport:
    """Outcome of :func:`run_sweep`. ``failed``: (run_id, error) of runs given up on."""

    n_runs: int
    n_cached: int
    n_computed: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    wall_time: float = 0.0
    n_tasks: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["failed"] = [{"run_id": rid, "error": err} for rid, err in self.failed]
        return d


# -- the sweep -------------------------------------------------------------------------------------
def _run_local(tasks: list[list[RunConfig]], root: str, device: str, track: Tracker, steps_bar: bool) -> None:
    queue = deque((task, 1) for task in tasks)
    while queue:
        task, attempt = queue.popleft()
        try:
            train_task([c.to_dict() for c in task], root, device, progress=steps_bar)
        except StoreWriteError:
            raise  # the store cannot be written (disk full): no run can be kept, stop with one line
        except Exception as exc:  # noqa: BLE001 - any error of one task is recorded, the sweep goes on
            queue.extend(track.fail(task, attempt, error_line(exc)))
        else:
            track.done(task)


def _check_options(executor: str, workers: int, device: str, max_models: int | str | None, retries: int) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor: got {executor!r}; allowed: one of {', '.join(EXECUTORS)}")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device: got {device!r}; allowed: cpu or cuda")
    if max_models not in (None, "auto") and (isinstance(max_models, bool) or not isinstance(max_models, int)
                                             or max_models < 1):
        raise ValueError(f"max_models: got {max_models!r}; allowed: an integer >= 1 or 'auto'")
    for name, val, lo in (("workers", workers, 1), ("retries", retries, 0)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            raise ValueError(f"{name}: got {val!r}; allowed: an integer >= {lo}")


def check_device(device: str) -> None:
    """Raise a one-line ValueError unless ``device`` is ``cpu`` or a CUDA device present here."""
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda"
                                           or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device: got {device!r}; allowed: cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device[5:]) if device.startswith("cuda:") else 0
        if index >= n:
            have = "no CUDA GPU is" if n == 0 else f"only {n} CUDA GPU(s) are"
            raise ValueError(f"device: got {device!r} but {have} available here; allowed: cpu"
                             + (f" or cuda:0..cuda:{n - 1}" if n else ""))


def run_sweep(configs: Sequence[RunConfig], store: Store | str | os.PathLike, *, executor: str = "local",
              workers: int = 2, scheduler: str | None = None, slurm: SlurmOptions | dict | None = None,
              device: str = "cpu", max_models: int | str | None = "auto", retries: int = 2,
              lanes: int = GPU_LANES, progress: bool = True) -> SweepReport:
    """Compute every run of ``configs`` missing from ``store`` (see the module docstring).

    ``scheduler`` (a Dask scheduler address) or ``slurm`` (:class:`SlurmOptions` or a ``[slurm]``
    table) imply the dask executor; without them ``executor="dask"`` starts a LocalCluster of
    ``workers`` processes. Returns a :class:`SweepReport`; failed runs do not raise.
    """
    _check_options(executor, workers, device, max_models, retries)
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes: got {lanes!r}; allowed: an integer >= 1")
    if scheduler and slurm is not None:
        raise ValueError("scheduler: cannot be combined with slurm; allowed: one of the two")
    if isinstance(slurm, dict):
        slurm = SlurmOptions.from_dict(slurm)
    if scheduler or slurm is not None:
        executor = "dask"
    if not scheduler and slurm is None:
        check_device(device)  # the runs train on this machine (a LocalCluster's workers too)
    store = store if isinstance(store, Store) else Store(store)
    start = time.perf_counter()
    store.ensure_writable()
    store.clean_tmp()
    plan = plan_sweep(configs, store, max_models=max_models, device=device)
    check_tasks_fit(plan.tasks, executor=executor, workers=workers, scheduler=scheduler, slurm=slurm)
    todo = [c for task in plan.tasks for c in task]
    root = str(Path(store.root).resolve())  # workers may run elsewhere: an absolute path
    with tqdm(total=len(todo), disable=not progress or not todo, unit="run", desc="sweep",
              mininterval=0.5) as bar:
        track = Tracker(store, retries, bar)
        if plan.tasks and executor == "local":
            if device.startswith("cuda") and lanes > 1 and len(plan.tasks) > 1:
                run_lanes(plan.tasks, root, device, track, lanes)
            else:
                _run_local(plan.tasks, root, device, track, steps_bar=progress and len(plan.tasks) == 1)
        elif plan.tasks:
            run_dask(plan.tasks, root, device, track, workers=min(workers, len(plan.tasks)), scheduler=scheduler,
                     slurm=slurm)  # no LocalCluster worker without a task to run
    return SweepReport(n_runs=plan.n_runs, n_cached=plan.n_cached,
                       n_computed=sum(1 for c in todo if c in store), failed=track.failed,
                       wall_time=time.perf_counter() - start, n_tasks=plan.n_tasks)


def executor_options(*, executor: str | None = None, workers: int | None = None, scheduler: str | None = None,
                     slurm: SlurmOptions | None = None, device: str | None = None,
                     max_models: int | str | None = None, retries: int | None = None,
                     lanes: int | None = None) -> dict[str, Any]:
    """Every keyword argument of :func:`run_sweep` but ``progress``, checked, from plain values (None:
    the default). ``scheduler`` or ``slurm`` imply the dask executor."""
    kw = {
        "executor": "dask" if (scheduler or slurm is not None) else (executor or "local"),
        "workers": 2 if workers is None else workers, "scheduler": scheduler or None, "slurm": slurm,
        "device": device or "cpu", "max_models": _max_models("auto" if max_models is None else max_models),
        "retries": 2 if retries is None else retries, "lanes": GPU_LANES if lanes is None else lanes,
    }
    _check_options(kw["executor"], kw["workers"], kw["device"], kw["max_models"], kw["retries"])
    if kw["lanes"] < 1:
        raise ValueError(f"--lanes: got {kw['lanes']}; allowed: an integer >= 1")
    return kw


def _max_models(val: Any) -> int | str:
    """``--max-models``: an integer >= 1 or ``auto``."""
    if isinstance(val, str) and val != "auto":
        try:
            val = int(val)
        except ValueError:
            raise ValueError(f"--max-models: got {val!r}; allowed: an integer >= 1 or 'auto'") from None
    if isinstance(val, int) and val < 1:
        raise ValueError(f"--max-models: got {val!r}; allowed: an integer >= 1 or 'auto'")
    return val


def ensure(configs: Sequence[RunConfig], store: Store | str | os.PathLike | None = None, *, device: str = "cpu",
           progress: bool = True, max_models: int | str | None = "auto") -> list[StoredRun]:
    """Every run of ``configs`` from ``store`` (default :func:`supdyn.store.default_store_root`), the
    missing ones computed first by :func:`run_sweep` in this process. A run that fails raises (a
    one-line ValueError naming it); the store records it in ``_failed/``."""
    store = store if isinstance(store, Store) else Store(store)
    report = run_sweep(configs, store, device=device, max_models=max_models, retries=0, progress=progress)
    if report.failed:
        rid, err = report.failed[0]
        raise ValueError(f"run {rid[:12]}: training failed ({err})")
    return [store.load(c) for c in configs]
