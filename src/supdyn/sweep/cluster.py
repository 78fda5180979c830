"""Dask clusters of a sweep: a LocalCluster, an existing scheduler, or SLURM jobs (dask-jobqueue).

Dask is imported only inside these functions, so the rest of supdyn runs without it.
"""

from __future__ import annotations

import dataclasses
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from supdyn.config import RunConfig
from supdyn.sweep.tasks import Tracker, error_line, submit_kwargs, task_cost, train_task


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


def run_dask(tasks: list[list[RunConfig]], root: str, device: str, track: Tracker, *, workers: int,
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
                    err = error_line(fut.exception())
                except BaseException as exc:  # noqa: BLE001 - cancelled futures raise here
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    err = error_line(exc)
                for again in track.fail(task, attempt, err):
                    submit(*again)
            fut.release()


