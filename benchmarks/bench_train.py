"""Throughput of supdyn's training step against a naive autograd reference, in one process.

    .venv/bin/python benchmarks/bench_train.py [--device cuda] [--quick] [--threads T] [--tts] [--models 1,4]

Measures (see benchmarks/README.md for what each column means):
* the float32 matmul rate of the machine (2048×2048 ``torch.mm``), timed once per repetition;
* a naive reference per shape: one model, ``nn.Parameter``s, autograd, dense x (batch × N) from
  ``SparseBatch.dense()``, ``torch.optim.SGD``, the same loss ½‖y* − y‖² summed over outputs and
  averaged over the batch;
* supdyn's step as ``train()`` runs it (``supdyn.train.train_step``: next batch of a ``BatchStream``,
  loss, gradients, update), timed over ``draw_steps(batch)`` = 16 consecutive steps (one sampler
  draw), for the superposition student (N = 1024, K ∈ {256, 512}) and the no-superposition student
  (N = K = 1024), batch 1024, n_models ∈ {1, 4} (``--models``); the time spent drawing batches inside those steps (``sampling``) and
  the same draws timed alone right after the naive step (``alone``, cold caches);
at two training states: ``init`` (t = 0) and ``mid`` (after training with the default settings to
t = 300, or 100 with --quick). Reference and candidate steps are interleaved, every figure is the
median over repetitions after warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from supdyn.config import from_dict
from supdyn.data import BatchStream, draw_steps, stream_seed, torch_generator
from supdyn.model import Student, build_student
from supdyn.train import flush_denormals, train_step

BATCH = 1024
N = 1024
SHAPES = [("fixed", 256), ("fixed", 512), ("none", 1024)]  # (variant, K); each with every n_models


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


class Matmul:
    """float32 2048×2048 @ 2048×2048 ``torch.mm``; :meth:`rate` times one product (GFLOP/s)."""

    def __init__(self, device: torch.device) -> None:
        gen = torch.Generator(device=device).manual_seed(0)
        self.a = torch.randn(2048, 2048, device=device, generator=gen)
        self.b = torch.randn(2048, 2048, device=device, generator=gen)
        self.device = device
        for _ in range(2):
            torch.mm(self.a, self.b)

    def rate(self) -> float:
        return 2 * 2048**3 / timed(lambda: torch.mm(self.a, self.b), self.device) / 1e9


class Naive:
    """The textbook step for model ``i`` of ``st``: dense x, autograd, ``torch.optim.SGD``."""

    def __init__(self, st: Student, i: int, lr: float, seed: int) -> None:
        self.variant = st.variant
        self.p = st.p[i:i + 1]  # (1, N) frequencies
        self.teacher = st.teacher[i]  # (N,)
        self.batches = BatchStream(self.p, BATCH, [torch_generator(seed, st.teacher.device)])
        if st.variant == "none":
            self.B = torch.nn.Parameter(st.matrix_B()[i].clone())  # (N, N)
            params = [self.B]
        else:
            self.B = torch.nn.Parameter(st.params["B"][i].clone())  # (K, K)
            self.bias = torch.nn.Parameter(st.params["bias"][i].clone())  # (N,)
            self.W = st.fixed["W"][i]  # (K, N)
            params = [self.B, self.bias]
        self.opt = torch.optim.SGD(params, lr=lr)

    def step(self) -> None:
        x = next(self.batches).dense()[0]  # (batch, N)
        ystar = x * self.teacher
        with torch.enable_grad():
            if self.variant == "none":
                y = x @ self.B.T  # rows y_s = B x_s
            else:
                y = torch.relu(x @ self.W.T @ self.B.T @ self.W + self.bias)  # ReLU(Wᵀ B W x + b)
            loss = 0.5 * ((ystar - y) ** 2).sum(1).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        self.opt.step()


class TimedStream:
    """A batch iterator that adds the time spent in each ``next`` to :attr:`seconds` (sampling inside the step)."""

    def __init__(self, inner: BatchStream, device: torch.device) -> None:
        self.inner, self.device, self.seconds = inner, device, 0.0

    def __iter__(self) -> "TimedStream":
        return self

    def __next__(self):
        sync(self.device)
        t0 = time.perf_counter()
        x = next(self.inner)
        sync(self.device)
        self.seconds += time.perf_counter() - t0
        return x


def student(variant: str, k: int, n_models: int, device: torch.device, t_mid: int) -> Student:
    """Default-settings student of ``n_models`` seeds, trained (lr 1) for ``t_mid`` steps."""
    cfgs = [from_dict({"n_features": N, "d_hidden": k, "variant": variant, "seed": s})
            for s in range(n_models)]
    st = build_student(cfgs, device=device)
    batches = BatchStream(st.p, BATCH, [torch_generator(stream_seed(c.seed, "train"), device) for c in cfgs])
    lr = torch.ones(n_models, device=device)
    for _ in range(t_mid):
        train_step(st, batches, lr)
    return st


def bench(variant: str, k: int, n_models: int, state: str, args: argparse.Namespace,
          device: torch.device, mm: Matmul) -> dict[str, float]:
    t_mid = 0 if state == "init" else args.t_mid
    st = student(variant, k, n_models, device, t_mid)
    naive = Naive(st, 0, 1.0, seed=12345)
    gens = [torch_generator(1000 + s, device) for s in range(n_models)]
    batches = TimedStream(BatchStream(st.p, BATCH, gens), device)
    alone = BatchStream(st.p, BATCH, [torch_generator(2000 + s, device) for s in range(n_models)])
    lr = torch.ones(n_models, device=device)
    d = draw_steps(BATCH)  # one timing = d consecutive steps (one sampler draw), per step

    def steps(fn) -> None:
        for _ in range(d):
            fn()

    for _ in range(args.warmup):
        naive.step()
        steps(lambda: train_step(st, batches, lr))
    t_naive, t_step, t_in, t_sample, rate = [], [], [], [], []
    for _ in range(args.reps):  # interleaved: matmul rate, reference, candidate, sampling alone
        rate.append(mm.rate())
        t_naive.append(timed(naive.step, device))
        batches.seconds = 0.0
        t_step.append(timed(lambda: steps(lambda: train_step(st, batches, lr)), device) / d)
        t_in.append(batches.seconds / d)
        t_sample.append(timed(lambda: steps(lambda: next(alone)), device) / d)
    step, ref, smp = (float(np.median(t)) for t in (t_step, t_naive, t_sample))
    in_step = float(np.median(np.array(t_in) / np.array(t_step)))
    t_step_a = np.array(t_step)
    roofline = n_models * 4 * BATCH * N * k / (np.array(rate) * 1e9)  # dense-output flops at the mm rate
    return {"step_ms": 1e3 * step, "samples_s": n_models * BATCH / step, "naive_ms": 1e3 * ref,
            "ratio": float(np.median(np.array(t_naive) * n_models / t_step_a)),
            "roofline": float(np.median(roofline / t_step_a)), "sampling": in_step, "alone": smp / step,
            "gflops": float(np.median(rate)),
            "iqr": float(np.subtract(*np.percentile(t_step, [75, 25])) / step)}


def time_to_solution(device: torch.device) -> float:
    """Wall time of ``train`` for K = 256, a = 1.1, b = 0 to t = 1e4 (default lr, batch, eval)."""
    from supdyn.train import train

    cfg = from_dict({"d_hidden": 256, "a": 1.1, "b": 0.0, "t_max": 1e4})
    t0 = time.perf_counter()
    train([cfg], device=str(device), progress=False)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, mid state at t = 100")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's default)")
    ap.add_argument("--reps", type=int, help="timed repetitions per shape (default 15, quick 5)")
    ap.add_argument("--states", default="init,mid", help="comma list of init, mid (default both)")
    ap.add_argument("--tts", action="store_true", help="also time K=256 a=1.1 b=0 to t=1e4")
    ap.add_argument("--models", default="1,4", help="comma list of n_models (default 1,4; e.g. 1,4,16 on a GPU)")
    args = ap.parse_args(argv)
    try:
        models = [int(m) for m in args.models.split(",")]
    except ValueError:
        models = []
    if not models or min(models) < 1:
        ap.error(f"--models: got {args.models!r}; allowed: a comma list of integers >= 1")
    args.reps = args.reps or (5 if args.quick else 15)
    args.warmup = 2 if args.quick else 3
    args.t_mid = 100 if args.quick else 300
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_train: CUDA is not available on this machine; skipping the --device cuda benchmark.")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    load0 = os.getloadavg()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"supdyn step benchmark: device {device} ({name}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"batch {BATCH}, N {N}, default settings (a = 1.1, b = 0, lr = 1, init scale 1e-3), float32; "
          f"medians of {args.reps} interleaved repetitions after {args.warmup} warm-up blocks; one timing = "
          f"{draw_steps(BATCH)} consecutive steps (one sampler draw), per step")
    print(f"states: init = t 0; mid = after {args.t_mid} SGD steps (t = {args.t_mid}) with the default settings")
    with flush_denormals():
        mm = Matmul(device)
        head = (f"{'state':5} {'variant':7} {'K':>5} {'models':>6} {'step ms':>8} {'samples/s':>10} "
                f"{'naive ms':>9} {'x naive':>8} {'roofline':>8} {'sampling':>8} {'alone':>6} {'iqr':>5} {'GFLOP/s':>8}")
        print(head)
        print("-" * len(head))
        for state in args.states.split(","):
            for variant, k, nm in [(v, k, m) for v, k in SHAPES for m in models]:
                r = bench(variant, k, nm, state, args, device, mm)
                print(f"{state:5} {variant:7} {k:5d} {nm:6d} {r['step_ms']:8.2f} {r['samples_s']:10.0f} "
                      f"{r['naive_ms']:9.2f} {r['ratio']:8.2f} {r['roofline']:8.2f} {r['sampling']:8.1%} {r['alone']:6.1%} "
                      f"{r['iqr']:5.0%} {r['gflops']:8.1f}", flush=True)
        if args.tts:
            print(f"time to solution (K 256, a 1.1, b 0, t 1e4, lr 1, batch 1024, eval 2^14): "
                  f"{time_to_solution(device):.1f} s")
    load1 = os.getloadavg()
    print(f"load average at the end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("columns: samples/s = n_models x batch / step; x naive = naive autograd step time x n_models / "
          "step time; roofline = (n_models x 4 batch N K flops at the matmul rate) / step time (> 1: faster "
          "than the dense-output roofline; N = K = 1024 for none); sampling = time spent drawing batches inside the timed steps / step time; alone = the same draws timed by themselves right after the reference step (cold caches) / step time; "
          "iqr = interquartile range of the step times / median; GFLOP/s = float32 2048x2048 matmul rate "
          "(timed once per repetition, interleaved). Every column is a median over repetitions.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
