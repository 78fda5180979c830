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

GPU: ``device="cuda"`` trains on CUDA; Dask workers on GPU nodes declare a ``GPU`` resource
(``dask worker --resources GPU=1``; a LocalCluster or SLURM job gets it automatically) and every
CUDA task requires one (:func:`submit_kwargs`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig, from_dict
from supdyn.store import Store, pack
from supdyn.train import run_steps, train

EXECUTORS = ("local", "dask")


@dataclass
class SlurmOptions:
    """Resources of one SLURM job (one Dask worker process per core; per GPU job: one worker)."""

    queue: str | None = None
    walltime: str = "01:00:00"
    memory: str = "4GB"
    cores: int = 1
    gpus: int = 0
    account: str | None = None
    max_jobs: int = 10

    def __post_init__(self) -> None:
        for name, lo in (("cores", 1), ("gpus", 0), ("max_jobs", 1)):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val < lo:
                raise ValueError(f"slurm.{name}: got {val!r}; allowed: an integer >= {lo}")
        for name in ("queue", "walltime", "memory", "account"):
            val = getattr(self, name)
            if val is not None and (not isinstance(val, str) or not val):
                raise ValueError(f"slurm.{name}: got {val!r}; allowed: a non-empty string")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "SlurmOptions":
        """From a ``[slurm]`` table (keys as the field names; ``max-jobs`` spelling also accepted)."""
        valid = [f.name for f in dataclasses.fields(cls)]
        kwargs = {}
        for key, val in (d or {}).items():
            name = key.replace("-", "_")
            if name not in valid:
                raise ValueError(f"slurm.{key}: unknown key; allowed: {', '.join(valid)}")
            kwargs[name] = val
        return cls(**kwargs)


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


# -- the task --------------------------------------------------------------------------------------
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


# -- clusters --------------------------------------------------------------------------------------
def _import_jobqueue():
    try:
        import dask_jobqueue
    except ImportError:
        raise ValueError("slurm: dask-jobqueue is not installed; allowed: install the extra with "
                         "pip install 'supdyn[slurm]'") from None
    return dask_jobqueue


def build_slurm_cluster(opts: SlurmOptions, *, device: str = "cpu"):
    """A ``dask_jobqueue.SLURMCluster`` for ``opts`` (no job is submitted until it is scaled).

    CPU: one worker process per core (1 thread each). CUDA: one worker per job holding
    ``GPU=gpus`` (default 1) and ``--gres=gpu:gpus``; use one GPU per job and scale the jobs.
    """
    jq = _import_jobqueue()
    gpus = opts.gpus or (1 if device.startswith("cuda") else 0)
    directives = [f"--gres=gpu:{gpus}"] if gpus else []
    worker_args = ["--resources", f"GPU={gpus}"] if gpus else []
    return jq.SLURMCluster(
        queue=opts.queue, account=opts.account, walltime=opts.walltime, memory=opts.memory,
        cores=opts.cores, processes=1 if gpus else opts.cores, job_extra_directives=directives,
        worker_extra_args=worker_args, scheduler_options={"dashboard_address": ":0"},
        job_name="supdyn")


@contextmanager
def _dask_client(*, workers: int, scheduler: str | None, slurm: SlurmOptions | None,
                 device: str) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap
    # threshold at 128 KiB: each step's large temporaries are then mmapped and unmapped again, and
    # training ran 1.5x slower in a worker than in a plain process. Workers started here (LocalCluster,
    # also when a nanny restarts one) keep glibc's default; for other clusters see the README.
    unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    cluster = None
    with dask.config.set(unset):
        try:
            if scheduler:
                client = Client(scheduler)
            else:
                if slurm is not None:
                    cluster = build_slurm_cluster(slurm, device=device)
                    cluster.adapt(minimum_jobs=0, maximum_jobs=slurm.max_jobs)
                else:
                    extra = {"resources": {"GPU": 1}} if device.startswith("cuda") else {}
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", **extra)  # any free port
                client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()


# -- the sweep -------------------------------------------------------------------------------------
class _Tracker:
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


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run_local(tasks: list[list[RunConfig]], root: str, device: str, track: _Tracker) -> None:
    queue = deque((task, 1) for task in tasks)
    while queue:
        task, attempt = queue.popleft()
        try:
            train_task([c.to_dict() for c in task], root, device)
        except Exception as exc:  # noqa: BLE001 - any error of one task is recorded, the sweep goes on
            queue.extend(track.fail(task, attempt, _error(exc)))
        else:
            track.done(task)


def _run_dask(tasks: list[list[RunConfig]], root: str, device: str, track: _Tracker, *, workers: int,
              scheduler: str | None, slurm: SlurmOptions | None) -> None:
    from distributed import as_completed

    with _dask_client(workers=workers, scheduler=scheduler, slurm=slurm, device=device) as client:
        pending: dict[str, tuple[list[RunConfig], int]] = {}
        ac = as_completed()

        def submit(task: list[RunConfig], attempt: int) -> None:
            key = f"supdyn-train-{task[0].run_id[:12]}-x{len(task)}-a{attempt}-{uuid.uuid4().hex[:8]}"
            fut = client.submit(train_task, [c.to_dict() for c in task], root, device, 1,
                                priority=task_cost(task), **submit_kwargs(device, key))
            pending[fut.key] = (task, attempt)
            ac.add(fut)

        for task in tasks:
            submit(task, 1)
        for fut in ac:
            task, attempt = pending.pop(fut.key)
            if fut.status == "finished":
                track.done(task)
            else:
                try:
                    err = _error(fut.exception())
                except BaseException as exc:  # noqa: BLE001 - cancelled futures raise here
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    err = _error(exc)
                for again in track.fail(task, attempt, err):
                    submit(*again)
            fut.release()


def _check_options(executor: str, workers: int, device: str, max_models: int, retries: int) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor: got {executor!r}; allowed: one of {', '.join(EXECUTORS)}")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device: got {device!r}; allowed: cpu or cuda")
    for name, val, lo in (("workers", workers, 1), ("max_models", max_models, 1), ("retries", retries, 0)):
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
              device: str = "cpu", max_models: int = 16, retries: int = 2,
              progress: bool = True) -> SweepReport:
    """Compute every run of ``configs`` missing from ``store`` (see the module docstring).

    ``scheduler`` (a Dask scheduler address) or ``slurm`` (:class:`SlurmOptions` or a ``[slurm]``
    table) imply the dask executor; without them ``executor="dask"`` starts a LocalCluster of
    ``workers`` processes. Returns a :class:`SweepReport`; failed runs do not raise.
    """
    _check_options(executor, workers, device, max_models, retries)
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
    plan = plan_sweep(configs, store, max_models=max_models)
    todo = [c for task in plan.tasks for c in task]
    root = str(Path(store.root).resolve())  # workers may run elsewhere: an absolute path
    with tqdm(total=len(todo), disable=not progress or not todo, unit="run", desc="sweep",
              mininterval=0.5) as bar:
        track = _Tracker(store, retries, bar)
        if plan.tasks and executor == "local":
            _run_local(plan.tasks, root, device, track)
        elif plan.tasks:
            _run_dask(plan.tasks, root, device, track, workers=workers, scheduler=scheduler, slurm=slurm)
    return SweepReport(n_runs=plan.n_runs, n_cached=plan.n_cached,
                       n_computed=sum(1 for c in todo if c in store), failed=track.failed,
                       wall_time=time.perf_counter() - start, n_tasks=plan.n_tasks)


def executor_from_args(args: Any, slurm_table: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`run_sweep` from parsed ``add_executor_arguments`` options.

    ``slurm_table`` (a spec's ``[slurm]`` table) gives SLURM defaults that ``--slurm-*`` override.
    ``--scheduler`` or ``--slurm`` imply the dask executor.
    """
    executor = getattr(args, "executor", None)
    scheduler = getattr(args, "scheduler", None)
    use_slurm = bool(getattr(args, "slurm", False))
    if scheduler and use_slurm:
        raise ValueError("--scheduler: cannot be combined with --slurm; allowed: one of the two")
    if executor == "local" and (scheduler or use_slurm):
        raise ValueError(f"--executor: got 'local' with --{'scheduler' if scheduler else 'slurm'}; "
                         "allowed: dask")
    slurm = None
    if use_slurm:
        table = dict(slurm_table or {})
        for name in ("queue", "walltime", "memory", "cores", "gpus", "account", "max_jobs"):
            val = getattr(args, f"slurm_{name}", None)
            if val is not None:
                table[name] = val
        slurm = SlurmOptions.from_dict(table)
    kw = {
        "executor": "dask" if (scheduler or use_slurm) else (executor or "local"),
        "workers": _arg(args, "workers", 2), "scheduler": scheduler or None, "slurm": slurm,
        "device": _arg(args, "device", "cpu"), "max_models": _arg(args, "max_models", 16),
        "retries": _arg(args, "retries", 2),
    }
    _check_options(kw["executor"], kw["workers"], kw["device"], kw["max_models"], kw["retries"])
    return kw


def _arg(args: Any, name: str, default: Any) -> Any:
    val = getattr(args, name, None)
    return default if val is None else val
