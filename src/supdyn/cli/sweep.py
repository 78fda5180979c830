"""``supdyn sweep SPEC.toml``: compute every run of a grid spec into the store, locally or on Dask.

The spec is a ``[base]`` table and a ``[grid]`` table (or ``[[grid]]`` tables), as read by
``supdyn.config.expand_grid``; an optional ``[slurm]`` table holds SLURM job options
(queue, walltime, memory, cores, gpus, account, max_jobs) used with ``--slurm``.
Runs already in the store are not computed again, so an interrupted sweep is resumed by running the
same command again. Exit code 1 if some run failed (they are listed), 2 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from supdyn.cli import add_limit_arguments
from supdyn.config import load_spec
from supdyn.store import Store
from supdyn.sweep import EXECUTORS, SlurmOptions, executor_options, plan_sweep, run_sweep


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of :func:`supdyn.sweep.run_sweep`: executor, cluster, SLURM, device, packing, retries.

    Turn them into ``run_sweep`` keyword arguments with :func:`executor_from_args`.
    """
    g = parser.add_argument_group("execution")
    g.add_argument("--executor", choices=EXECUTORS, default=None,
                   help="local: one process; dask: a Dask cluster (default local, except `reproduce "
                        "--quick/--full` on >= 2 cores: a LocalCluster; --scheduler/--slurm imply dask)")
    g.add_argument("--workers", type=int, default=2, metavar="N",
                   help="worker processes of the Dask LocalCluster (1 thread each; default 2)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="connect to a running Dask scheduler (e.g. tcp://host:8786) instead of "
                        "starting a LocalCluster; start workers with `dask worker ADDRESS --nthreads 1`")
    g.add_argument("--device", default="cpu", help="cpu or cuda (CUDA tasks need a GPU resource on "
                                                    "Dask workers: `dask worker --resources GPU=1`)")
    g.add_argument("--max-models", dest="max_models", default=None, metavar="N|auto",
                   help="at most N runs trained together per task; auto (default): 16 on the CPU (4 on "
                        "reproduce's automatic LocalCluster), on CUDA as many as 80%% of the free GPU "
                        "memory holds (every run of one shape in one task where it fits)")
    g.add_argument("--lanes", type=int, default=None, metavar="N",
                   help="tasks trained at once on one CUDA GPU, each on its own stream (default 4)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="retries of a failing run before it is recorded as failed (default 2)")
    s = parser.add_argument_group("SLURM (the extra supdyn[slurm]; defaults from a spec's [slurm] table)")
    s.add_argument("--slurm", action="store_true",
                   help="run on SLURM jobs (dask-jobqueue), scaled adaptively from 0 to --slurm-max-jobs")
    s.add_argument("--slurm-queue", dest="slurm_queue", metavar="PARTITION", help="partition (-p)")
    s.add_argument("--slurm-walltime", dest="slurm_walltime", metavar="HH:MM:SS",
                   help="per job (default 01:00:00)")
    s.add_argument("--slurm-memory", dest="slurm_memory", metavar="SIZE",
                   help="per job, e.g. 16GB (default 4GB)")
    s.add_argument("--slurm-cores", dest="slurm_cores", type=int, metavar="N",
                   help="cores per job, one worker process each (default 1)")
    s.add_argument("--slurm-gpus", dest="slurm_gpus", type=int, metavar="N",
                   help="GPUs per job (--gres=gpu:N; default 1 with --device cuda, else 0)")
    s.add_argument("--slurm-account", dest="slurm_account", metavar="ACCOUNT", help="account (-A)")
    s.add_argument("--slurm-max-jobs", dest="slurm_max_jobs", type=int, metavar="N",
                   help="at most N jobs at once (default 10)")


def executor_from_args(args: argparse.Namespace, slurm_table: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`supdyn.sweep.run_sweep` from the ``add_executor_arguments`` options.

    ``slurm_table`` (a spec's ``[slurm]`` table) gives SLURM defaults that ``--slurm-*`` override.
    ``--scheduler`` or ``--slurm`` imply the dask executor.
    """
    if args.scheduler and args.slurm:
        raise ValueError("--scheduler: cannot be combined with --slurm; allowed: one of the two")
    if args.executor == "local" and (args.scheduler or args.slurm):
        raise ValueError(f"--executor: got 'local' with --{'scheduler' if args.scheduler else 'slurm'}; "
                         "allowed: dask")
    slurm = None
    if args.slurm:
        table = dict(slurm_table or {})
        for f in dataclasses.fields(SlurmOptions):
            val = getattr(args, f"slurm_{f.name}")
            if val is not None:
                table[f.name] = val
        slurm = SlurmOptions.from_dict(table)
    return executor_options(executor=args.executor, workers=args.workers, scheduler=args.scheduler, slurm=slurm,
                            device=args.device, max_models=args.max_models, retries=args.retries,
                            lanes=getattr(args, "lanes", None))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="compute a grid of runs (locally or on a Dask/SLURM cluster)",
                       description="Compute every run of a grid spec into the store, locally or on Dask.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="\n".join(__doc__.splitlines()[2:]).replace("``", ""))
    p.add_argument("spec", help="grid spec TOML: [base], [grid] or [[grid]], optional [slurm]")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--dry-run", action="store_true",
                   help="only print the number of runs, stored runs, tasks and model-steps")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(p)
    add_limit_arguments(p)
    p.set_defaults(func=run)


def describe_executor(kw: dict[str, Any]) -> str:
    """One line naming the executor of :func:`run_sweep` keyword arguments."""
    if kw.get("executor", "local") == "local":
        return f"local executor on {kw.get('device', 'cpu')}"
    if kw.get("scheduler"):
        where = f"Dask cluster at {kw['scheduler']}"
    elif kw.get("slurm") is not None:
        where = f"SLURM cluster (up to {kw['slurm'].max_jobs} jobs)"
    else:
        where = f"Dask LocalCluster with {kw.get('workers', 2)} workers"
    return f"{where} on {kw.get('device', 'cpu')}"


def run(args: argparse.Namespace) -> int:
    configs, slurm_table = load_spec(args.spec)
    kw = executor_from_args(args, slurm_table)
    store = Store(args.store)
    if args.dry_run:
        plan = plan_sweep(configs, store, max_models=kw["max_models"], device=kw["device"])
        out = {**plan.to_dict(), "store": str(store.root), "executor": describe_executor(kw)}
        if args.json:
            print(json.dumps(out))
        else:
            print(f"runs:        {plan.n_runs}")
            print(f"stored:      {plan.n_cached}")
            print(f"to compute:  {plan.n_runs - plan.n_cached} in {plan.n_tasks} task(s) "
                  f"(at most {kw['max_models']} models per task)")
            print(f"model-steps: {plan.model_steps} (runs to compute)")
            print(f"executor:    {describe_executor(kw)}; store: {store.root}")
        return 0
    if not args.json:
        print(f"sweep: {len(configs)} runs, {describe_executor(kw)}, store {store.root}", flush=True)
    try:
        report = run_sweep(configs, store, progress=not (args.no_progress or args.json), **kw)
    except KeyboardInterrupt:
        print("interrupted: finished runs are stored; run the same command again to compute the rest",
              file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({**report.to_dict(), "store": str(store.root), "executor": describe_executor(kw)}))
    else:
        print(f"done in {report.wall_time:.1f} s: {report.n_computed} computed, {report.n_cached} "
              f"already stored, {len(report.failed)} failed ({report.n_tasks} task(s))")
    for rid, err in report.failed:
        print(f"failed: {rid[:12]}: {err}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} run(s) failed (recorded in {store.root / '_failed'}); "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
