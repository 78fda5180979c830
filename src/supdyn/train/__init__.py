"""Online training of many models at once: SGD (the paper's), Adam or AdamW (:mod:`supdyn.train.optim`),
at a constant rate or on a schedule (:mod:`supdyn.train.schedule`; time t = Σ_k lr_k, lr × steps at a
constant rate); loss ½E‖y* − y‖² summed over the N outputs (or the mean over outputs, see
:mod:`supdyn.model`).

:func:`train` trains a pack of runs that share :data:`GROUP_FIELDS` with one of two engines:
    ``sparse``  :mod:`supdyn.train.sparse`, the CPU step: compaction with data-dependent shapes, a
                gather forward and a sparse backward (past the dense-output roofline on a CPU);
    ``static``  :mod:`supdyn.train.static` / :mod:`supdyn.train.engine`, the device step: static
                shapes, the sampler on the device, no host sync between evaluation points, CUDA graphs.
``engine="auto"`` (default) is ``static`` on CUDA and ``sparse`` on the CPU. The two draw their
training data from different streams of the same distribution (:class:`supdyn.data.BatchStream`,
:class:`supdyn.data.static_sampler.StaticSampler`), so their curves agree in distribution, not bit for
bit; both are deterministic on the CPU.

float32 denormals (tiny weights and gradients late in training) can make a CPU step ~20× slower;
training runs with denormals flushed to zero (:func:`flush_denormals`), restored on exit.
Numerics: parameters and steps in the run's dtype (float32 by default), evaluation losses
accumulated in float64 (see :mod:`supdyn.model`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from supdyn.config import RunConfig
from supdyn.train.common import (GROUP_FIELDS, Recorder, RunResult, eval_steps, flush_denormals, group_key,
                                 param_dtype, run_steps)
from supdyn.train.engine import STEPS_PER_DRAW, StaticRunner, train_static
from supdyn.train.optim import OPTIMIZERS, Hyper, optimizer
from supdyn.train.schedule import Schedule, rates, step_times, steps_at, times_of
from supdyn.train.sparse import train_sparse, train_step

ENGINES = ("auto", "sparse", "static")

__all__ = ["ENGINES", "GROUP_FIELDS", "OPTIMIZERS", "Hyper", "Recorder", "RunResult", "STEPS_PER_DRAW", "Schedule",
           "StaticRunner", "eval_steps", "flush_denormals", "group_key", "optimizer", "param_dtype", "rates",
           "resolve_engine", "run_steps", "step_times", "steps_at", "times_of", "train", "train_step"]


def resolve_engine(engine: str, device: str) -> str:
    """``auto`` → ``static`` on CUDA, ``sparse`` elsewhere; checks the name."""
    if engine not in ENGINES:
        raise ValueError(f"engine: got {engine!r}; allowed: one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "static" if str(device).startswith("cuda") else "sparse"
    return engine


def train(configs: Sequence[RunConfig], *, device: str = "cpu", progress: bool = True,
          on_eval: Callable[[int], None] | None = None, engine: str = "auto",
          graphs: bool | None = None, steps_per_draw: int = STEPS_PER_DRAW) -> list[RunResult]:
    """Train every config (one model each) together and return one RunResult per config.

    All configs must share :data:`GROUP_FIELDS` (see :func:`group_key`); a, b, law, seed, lr,
    t_max, init scale, snapshots and evaluation times may differ (a model past its own number of
    steps stays frozen while the others go on). ``engine``: see the module docstring; ``graphs`` and
    ``steps_per_draw`` tune the static engine (CUDA graphs on CUDA by default, 16 steps per block).
    """
    configs = list(configs)
    if not configs:
        return []
    keys = {group_key(c) for c in configs}
    if len(keys) > 1:
        raise ValueError(f"configs: runs trained together must share {', '.join(GROUP_FIELDS)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA GPU is available; allowed: cpu")
    kind = resolve_engine(engine, device)
    with flush_denormals(), torch.no_grad():
        dev = torch.device(device)
        if kind == "static":
            return train_static(configs, dev, progress, on_eval, graphs=graphs, steps_per_draw=steps_per_draw)
        return train_sparse(configs, dev, progress, on_eval)
