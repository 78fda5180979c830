"""Throughput of the static device engine (supdyn.train.static, CUDA graphs), one model and packed.

    python benchmarks/bench_engine.py [--device cuda] [--models 1,64,256] [--k 256,512] [--tf32] [--tts]

For each shape (superposition student N = 1024, K ∈ --k, batch 1024) and n_models ∈ --models:
* ``graphs``: ms per step of all models, blocks of 16 steps (one sampler draw + 16 steps) replayed as a
  CUDA graph, timed with CUDA events over several blocks after warm-up;
* ``eager``: the same block launched op by op (graphs off);
* ``roofline``: n_models · 4·batch·N·K flops at the measured float32 matmul rate (2048² ``torch.mm``),
  divided by the graphs step time (the dense-output bound of the forward W z and the backward G Wᵀ);
* ``sampling``: a draw of 16 steps' batches alone (its own graph), / the block's time;
* ``naive``: the textbook autograd step of one model (bench_train.Naive), ``x naive`` = naive ×
  n_models / step;
* with --tf32 the packed shapes again with TensorFloat-32 matmuls (roofline still at the float32 rate).
The step does the same work at every training state (static shapes), so one state is timed (t = 0).
On the CPU (for checking the script) the same columns are printed without graphs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import Matmul, Naive  # noqa: E402

from supdyn.config import from_dict  # noqa: E402
from supdyn.train import StaticRunner, flush_denormals  # noqa: E402
from supdyn.train.engine import matmul_precision  # noqa: E402


class Clock:
    """Wall time of a callable on ``device`` (CUDA events on a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, fn, reps: int) -> float:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(self.device)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize(self.device)
            return start.elapsed_time(end) / 1e3 / reps
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) / reps


def draw_graph(run: StaticRunner, device: torch.device):
    """A callable drawing one block's batches: a captured graph on CUDA, eager elsewhere."""
    d = run.block

    def draw():
        run.sampler.draw(run.state.step, d)

    if device.type != "cuda":
        return draw
    for _ in range(2):
        draw()
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        draw()
    return graph.replay


def bench(k: int, n_models: int, args, device: torch.device, rate: float, tf32: bool) -> list[dict]:
    """Rows of the table for one shape: float32 (graphs and eager) and, with ``tf32``, TF32 (graphs)."""
    cfgs = [from_dict({"n_features": args.n, "d_hidden": k, "batch": args.batch, "seed": s})
            for s in range(n_models)]
    clock = Clock(device)
    run = StaticRunner(cfgs, device)
    run.state.n_steps.fill_(1 << 40)  # every model stays active
    d = run.block
    cuda = device.type == "cuda"

    def step_time() -> float:
        run.launch(d)  # capture (graphs) and warm-up
        run.launch(d)
        reps = max(2, int(args.seconds / max(clock(lambda: run.launch(d), 1), 1e-6)))
        return clock(lambda: run.launch(d), reps) / d

    rows = []
    for prec in (["fp32", "tf32"] if tf32 else ["fp32"]):
        with matmul_precision(prec == "tf32"):
            run._graphs.clear()
            run.use_graphs = cuda
            r = {"prec": prec, "rows": run.sampler.rows, "cap": run.sampler.capacity}
            best = step_time()
            r["engine"] = run.engine
            r["graphs"] = best if run.use_graphs else np.nan
            r["sampling"] = clock(draw_graph(run, device), 5) / d / best
            if prec == "fp32" or not cuda:
                run.use_graphs = False
                r["eager"] = step_time()
            else:
                r["eager"] = np.nan
            r["roofline"] = n_models * 4 * args.batch * args.n * k / (rate * 1e9) / best
            r["samples_s"] = n_models * args.batch / best
            r["best"] = best
            rows.append(r)
    del run
    if cuda:
        torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default="1,64,256", help="comma list of n_models (default 1,64,256)")
    ap.add_argument("--k", default="256,512", help="comma list of K (default 256,512)")
    ap.add_argument("--n", type=int, default=1024, help="n_features (default 1024)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=0.5, help="timed seconds per figure (default 0.5)")
    ap.add_argument("--tf32", action="store_true", help="also time the packed shapes with TF32 matmuls")
    ap.add_argument("--tts", action="store_true", help="also time K=256 a=1.1 b=0 to t=1e4 with train()")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_engine: CUDA is not available on this machine; skipping the --device cuda benchmark.")
        return 0
    device = torch.device(args.device)
    models = [int(m) for m in args.models.split(",")]
    ks = [int(k) for k in args.k.split(",")]
    torch.set_grad_enabled(False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPU cores"
    mm = Matmul(device)
    rate = float(np.median([mm.rate() for _ in range(5)]))
    with matmul_precision(True):
        rate_tf32 = float(np.median([mm.rate() for _ in range(5)]))
    print(f"static engine benchmark: {device} ({name}), torch {torch.__version__}; N {args.n}, batch "
          f"{args.batch}, fixed student, float32; matmul 2048^2: {rate:.0f} GFLOP/s float32, "
          f"{rate_tf32:.0f} GFLOP/s TF32; block = 16 steps; step = all models")
    head = (f"{'K':>4} {'models':>6} {'prec':>5} {'graphs ms':>9} {'eager ms':>9} {'samples/s':>11} "
            f"{'roofline':>8} {'sampling':>8} {'naive ms':>8} {'x naive':>8} {'rows':>5} {'cap':>5}  engine")
    print(head)
    print("-" * len(head))
    with flush_denormals():
        for k in ks:
            naive_ms = np.nan
            if args.n == 1024 and args.batch == 1024:
                cfg = from_dict({"d_hidden": k})
                from supdyn.model import build_student
                st = build_student([cfg], device=device)
                nv = Naive(st, 0, 1.0, seed=1)
                for _ in range(3):
                    nv.step()
                naive_ms = 1e3 * Clock(device)(nv.step, 10)
            for m in models:
                for r in bench(k, m, args, device, rate, args.tf32 and m > 1):
                    print(f"{k:4d} {m:6d} {r['prec']:>5} {1e3 * r['graphs']:9.3f} {1e3 * r['eager']:9.3f} "
                          f"{r['samples_s']:11.3g} {r['roofline']:8.2f} {r['sampling']:8.1%} {naive_ms:8.2f} "
                          f"{naive_ms / 1e3 * m / r['best']:8.1f} {r['rows']:5d} {r['cap']:5d}  {r['engine']}",
                          flush=True)
    if args.tts:
        from supdyn.train import train

        cfg = from_dict({"d_hidden": 256, "a": 1.1, "b": 0.0, "t_max": 1e4})
        t0 = time.perf_counter()
        (res,) = train([cfg], device=str(device), progress=False)
        print(f"time to solution (K 256, a 1.1, b 0, t 1e4, lr 1, batch 1024, eval 2^14, {res.engine}): "
              f"{time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
