"""Benchmark: a 16-run sweep on a 2-worker Dask LocalCluster vs the local executor.

Run with ``.venv/bin/python benchmarks/bench_sweep.py`` (about 1-2 minutes on 2 cores).

The sweep: 16 runs of the superposition student (N = 256, K = 64, batch 1024, t_max = 2000 at lr = 1,
i.e. 2000 steps, 2048 held-out samples, seeds 0-15), each about 2.5 s of CPU on one core (with 200
steps, 0.3 s per run, starting the cluster costs more than the runs). ``max_models = 1``
gives 16 single-run tasks, so both executors do exactly the same work per run and the speed-up
measures only the scale-out (16 tasks also balance well over 2 workers). Packing runs into batched
tasks is a separate speed-up that the local executor enjoys as well.

Threads: the local executor trains with torch's default intra-op threads (one per core, 2 here);
each Dask worker is one process with 1 thread and every Dask task sets ``torch.set_num_threads(1)``,
so the 2 workers use the 2 cores without oversubscribing them. The Dask time includes starting the
LocalCluster (2 worker processes importing torch). Each executor writes into a fresh temporary store.

Target: speed-up >= 1.8x on an otherwise idle 2-core machine. Timings on a shared machine are noisy:
other processes take CPU time, and a 2-thread torch process suffers more from that than two
1-thread processes (its threads wait for each other), which can inflate the speed-up.
``--local-threads 1`` adds a run of the local executor with 1 torch thread for reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

from supdyn.config import from_dict
from supdyn.store import Store
from supdyn.sweep import run_sweep


def configs(n_runs: int, t_max: float) -> list:
    base = {"n_features": 256, "d_hidden": 64, "batch": 1024, "t_max": t_max, "lr": 1.0, "eval_size": 2048}
    return [from_dict(dict(base, seed=s)) for s in range(n_runs)]


def timed(label: str, cfgs: list, root: str, **kw) -> float:
    start = time.perf_counter()
    report = run_sweep(cfgs, root, progress=False, **kw)
    wall = time.perf_counter() - start
    assert report.n_computed == len(cfgs) and not report.failed, report
    print(f"{label:<44s} {wall:7.1f} s  ({wall / len(cfgs):.2f} s per run, {report.n_tasks} tasks)",
          flush=True)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--t-max", type=float, default=2000.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-models", type=int, default=1)
    ap.add_argument("--local-threads", type=int, default=None,
                    help="also time the local executor with this many torch threads")
    args = ap.parse_args()
    cfgs = configs(args.runs, args.t_max)
    print(f"{args.runs} runs (N=256, K=64, batch 1024, {int(args.t_max)} steps), "
          f"max_models={args.max_models}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        local = timed(f"local executor ({torch.get_num_threads()} torch threads)", cfgs, f"{tmp}/local",
                      max_models=args.max_models)
        dask = timed(f"dask LocalCluster ({args.workers} workers x 1 thread)", cfgs, f"{tmp}/dask",
                     executor="dask", workers=args.workers, max_models=args.max_models)
        print(f"speed-up: {local / dask:.2f}x (target >= 1.8x with 2 workers on 2 idle cores)")
        if args.local_threads:
            default = torch.get_num_threads()
            torch.set_num_threads(args.local_threads)
            one = timed(f"local executor ({args.local_threads} torch thread(s))", cfgs, f"{tmp}/local1",
                        max_models=args.max_models)
            torch.set_num_threads(default)
            print(f"speed-up vs that: {one / dask:.2f}x")
        a, b = Store(f"{tmp}/local"), Store(f"{tmp}/dask")
        diff = max(float(np.nanmax(np.abs(a.load(c).loss - b.load(c).loss) / np.abs(a.load(c).loss)))
                   for c in cfgs)
        print(f"largest relative difference of stored losses, local vs dask: {diff:.1e}"
              + (" (bitwise equal)" if diff == 0 else " (torch thread counts differ)"))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":  # the guard matters: Dask starts its workers with multiprocessing spawn
    sys.exit(main())
