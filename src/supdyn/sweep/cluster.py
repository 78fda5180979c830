"""Dask clusters of a sweep: a LocalCluster, an existing scheduler, or SLURM jobs (dask-jobqueue).

Dask is imported only inside these functions, so the rest of supdyn runs without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from supdyn.config import RunConfig, resources
from supdyn.store import StoreWriteError
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


def build_slurm_cluster(opts: SlurmOptions, *, device: str = "cpu", log_dir: str | None = None):
    """A ``dask_jobqueue.SLURMCluster`` for ``opts`` (no job is submitted until it is scaled).

    CPU: one worker process per core (1 thread each). CUDA: one worker per job holding
    ``GPU=gpus`` (default 1) and ``--gres=gpu:gpus``; use one GPU per job and scale the jobs.
    Its jobs record why a submission failed (``cluster.submit_errors``: sbatch's error lines), and
    write their output to ``log_dir`` (``<store>/_slurm`` in a sweep) instead of the current directory.
    """
    jq = _import_jobqueue()
    from dask_jobqueue.slurm import SLURMJob
    from distributed.core import Status

    errors: list[str] = []

    class Job(SLURMJob):  # one class per cluster: the errors of its own submissions
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as exc:  # noqa: BLE001 - recorded for run_dask, re-raised for dask-jobqueue
                errors.append(sbatch_error(exc))
                self.status = Status.failed  # (so that the cluster can close)
                raise

    gpus = opts.gpus or (1 if device.startswith("cuda") else 0)
    directives = [f"--gres=gpu:{gpus}"] if gpus else []
    worker_args = ["--resources", f"GPU={gpus}"] if gpus else []
    cluster = jq.SLURMCluster(
        queue=opts.queue, account=opts.account, walltime=opts.walltime, memory=opts.memory,
        cores=opts.cores, processes=1 if gpus else opts.cores, job_extra_directives=directives,
        worker_extra_args=worker_args, scheduler_options={"dashboard_address": ":0"},
        job_name="supdyn", job_cls=Job, log_directory=log_dir)
    cluster.submit_errors = errors
    return cluster


def sbatch_error(exc: BaseException) -> str:
    """The first ``error:`` line of a failed sbatch call (dask-jobqueue's RuntimeError), else one line."""
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'sbatch'}: command not found"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return next((ln for ln in lines if "error:" in ln), lines[0] if lines else error_line(exc))


def check_submission(cluster: Any) -> None:
    """Submit the cluster's job script with ``sbatch --test-only`` (nothing runs): ValueError (one line)
    if SLURM rejects it (a partition, account or resources it does not have) or sbatch is missing.
    Clusters without a job script (not dask-jobqueue's) are not checked."""
    import subprocess
    import tempfile

    if not callable(getattr(cluster, "job_script", None)):
        return
    allowed = ("allowed: a partition, account and resources this SLURM cluster accepts (--slurm-queue, "
               "--slurm-account, --slurm-memory, --slurm-walltime, --slurm-cores, --slurm-gpus, or [slurm])")
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as fh:
        fh.write(cluster.job_script())
        fh.flush()
        try:
            proc = subprocess.run(["sbatch", "--test-only", fh.name], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise ValueError("slurm: sbatch not found on PATH; allowed: a machine with SLURM's commands "
                             "(or --executor dask / local)") from None
        except subprocess.TimeoutExpired:
            raise ValueError(f"slurm: sbatch --test-only gave no answer in 60 s; {allowed}") from None
    if proc.returncode != 0:
        raise ValueError(f"slurm: sbatch rejects the job ({sbatch_error(RuntimeError(proc.stderr))}); {allowed}")


def check_tasks_fit(tasks: list[list[RunConfig]], *, executor: str, workers: int, scheduler: str | None,
                    slurm: SlurmOptions | None) -> None:
    """ResourceError (one line) unless the tasks of a sweep fit where they run, under the limits in
    force (``supdyn.config.limits``; none: no check): the largest task in this process (local executor),
    the ``workers`` largest at once on a LocalCluster (plus a worker process each), the largest in one
    worker of a SLURM job (its ``memory`` over its worker processes). A Dask ``scheduler``'s workers are
    not known here: not checked."""
    lim = resources.current()
    if lim.memory is None or not tasks or scheduler:
        return
    needs = sorted(((resources.run_bytes(t[0], len(t)), t) for t in tasks), key=lambda x: x[0], reverse=True)
    need, task = needs[0]
    c = task[0]
    what = (f"a task of {len(task)} run(s) (N = {c.data.n_features}, K = {c.model.d_hidden}, batch = "
            f"{c.train.batch}; --max-models packs them)")
    if slurm is not None:
        per_worker = slurm.cores if not (slurm.gpus or lim.device.startswith("cuda")) else 1
        have = resources.parse_size(slurm.memory, "slurm.memory", allow_none=False) / per_worker
        if need + resources.WORKER_BYTES > have:
            raise resources.ResourceError(
                f"memory: {what} needs about {resources.format_bytes(need + resources.WORKER_BYTES)} in a worker, "
                f"more than the {resources.format_bytes(have)} of a SLURM worker ({slurm.memory} per job over "
                f"{per_worker} worker(s)); allowed: --slurm-memory SIZE, fewer --slurm-cores, a smaller "
                "--max-models, or --max-memory none (no check)")
    elif executor == "dask":
        top = needs[:workers]
        resources.check_memory(sum(n for n, _ in top) + len(top) * resources.WORKER_BYTES,
                               f"{len(top)} worker(s) at once, the largest with {what},")
    else:
        resources.check_memory(need, what)


def _ignore_interrupts() -> None:
    """In a LocalCluster worker: Ctrl-C (SIGINT to the terminal's process group) is the client's to
    handle; the worker is stopped by its nanny, without a traceback of its own."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _quiet(local: bool) -> Iterator[None]:
    """Dask's log lines about tasks and stopped workers are not shown: the sweep reports failed runs
    itself, one line each. Here only ERROR and above shows; LocalCluster workers (whose errors are
    a task's failure, reported by the sweep) show CRITICAL only. The environment variables that
    LocalCluster's nannies set in this process for their workers (OMP_NUM_THREADS=1, PYTHONHASHSEED,
    ...) are restored afterwards."""
    import logging
    import os

    environ = dict(os.environ)
    loggers = {"distributed": logging.ERROR, "tornado.application": logging.CRITICAL}  # (a refused SLURM job)
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name, level in loggers.items():
        logging.getLogger(name).setLevel(level)
    if local:
        os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"  # read by each worker process when it starts
        # multiprocessing's resource tracker (started with this environment) warns at exit about the
        # semaphore of a worker stopped by Ctrl-C, which it then removes itself: nothing to report
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                                              "ignore::UserWarning:multiprocessing.resource_tracker"]))
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update({k: v for k, v in environ.items() if os.environ.get(k) != v})


@contextmanager
def _dask_client(*, workers: int, scheduler: str | None, slurm: SlurmOptions | None,
                 device: str, log_dir: str | None = None) -> Iterator[tuple[Any, Any]]:
    import dask
    from distributed import Client, LocalCluster

    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap
    # threshold at 128 KiB: each step's large temporaries are then mmapped and unmapped again, and
    # training ran 1.5x slower in a worker than in a plain process. Workers started here (LocalCluster,
    # also when a nanny restarts one) keep glibc's default; for other clusters see the README.
    unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    cluster = None
    local = not scheduler and slurm is None
    with dask.config.set(unset), _quiet(local):
        try:
            if scheduler:
                try:
                    client = Client(scheduler)
                except (OSError, ValueError, TypeError) as exc:
                    raise ValueError(f"scheduler: cannot connect to {scheduler!r} ({error_line(exc)}); allowed: the "
                                     "address of a running Dask scheduler, e.g. tcp://host:8786") from None
            else:
                if slurm is not None:
                    cluster = build_slurm_cluster(slurm, device=device, log_dir=log_dir)
                    check_submission(cluster)
                    cluster.adapt(minimum_jobs=0, maximum_jobs=slurm.max_jobs)
                else:
                    extra = {"resources": {"GPU": 1}} if device.startswith("cuda") else {}
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", **extra)  # any free port
                client = Client(cluster)
                if local:
                    client.register_worker_callbacks(_ignore_interrupts)  # also runs on restarted workers
            try:
                yield client, cluster
            finally:
                client.close()
        except BaseException:
            if cluster is not None:
                with contextlib.suppress(Exception):  # e.g. SLURM jobs that never started: keep the first error
                    cluster.close()
            raise
        if cluster is not None:
            cluster.close()


def _check_jobs(cluster: Any, client: Any) -> None:
    """SubmissionError once a job submission failed while no worker is connected (nothing could run)."""
    errors = getattr(cluster, "submit_errors", None)
    if errors and not client.scheduler_info().get("workers"):
        raise SubmissionError(f"slurm: job submission failed ({errors[-1]}); allowed: options that sbatch "
                              "accepts (--slurm-queue, --slurm-account, --slurm-memory, ... or [slurm])")


class SubmissionError(ValueError):
    """SLURM refused the jobs of a sweep (one line: sbatch's error)."""


def run_dask(tasks: list[list[RunConfig]], root: str, device: str, track: Tracker, *, workers: int,
              scheduler: str | None, slurm: SlurmOptions | None) -> None:
    import time
    from pathlib import Path

    from distributed import as_completed

    log_dir = str(Path(root) / "_slurm") if slurm is not None else None
    with _dask_client(workers=workers, scheduler=scheduler, slurm=slurm, device=device,
                      log_dir=log_dir) as (client, cluster):
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
        while not ac.is_empty():
            if not ac.has_ready():  # poll, so that a SLURM cluster whose jobs were refused cannot hang us
                _check_jobs(cluster, client)
                time.sleep(0.05)
                continue
            for fut in ac.next_batch(block=False):
                task, attempt = pending.pop(fut.key)
                if fut.status == "finished":
                    track.done(task)
                else:
                    try:
                        exc = fut.exception()
                    except BaseException as raised:  # noqa: BLE001 - cancelled futures raise here
                        if isinstance(raised, KeyboardInterrupt):
                            raise
                        exc = raised
                    if isinstance(exc, StoreWriteError):
                        raise exc  # the store cannot be written (disk full): no run can be kept
                    for again in track.fail(task, attempt, error_line(exc)):
                        submit(*again)
                fut.release()
