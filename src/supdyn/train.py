"""Online SGD for many models at once.

Each step takes a fresh batch per model (from the model's ``train`` stream, a
:class:`supdyn.data.BatchStream`: 16 steps' batches per sampler call at batch 1024), computes the loss
L = (1/batch) Σ_s ½‖y*_s − y_s‖² and its hand-written gradient (``supdyn.model``), and updates
θ ← θ − lr_m ∇θ L for every model m with its own learning rate. Time is t = lr × steps; a model
stops after round(t_max / lr) steps. The loss is evaluated at t = 0 and at ``eval_per_decade``
log-spaced times per decade in [1, t_max] (rounded to whole steps), either exactly (linear students,
``population_loss``) or on a held-out set drawn once per run from its ``eval`` stream.

A model diverges when its batch loss is non-finite or exceeds ``diverge_factor`` × its loss at t = 0;
it is then frozen (its curve is NaN afterwards) and the step and t are recorded; the others go on.

float32 denormals (tiny weights and gradients late in training) can make a CPU step ~20× slower;
training runs with denormals flushed to zero (``torch.set_flush_denormal``), restored on exit.

One step (:func:`train_step`) is: next batch, :func:`supdyn.model.step_grads` (sparse-aware loss and
gradients), divergence check (the step's one host sync of its own; the sampler and the compaction
add a few small ones), update. Dense gradients update whole parameters; row gradients (none: rows
of Bᵀ, learnable: rows of Eᵀ, one per active feature) update only those rows.
Numerics: parameters and steps in the run's dtype (float32 by default), evaluation losses
accumulated in float64 (see :mod:`supdyn.model`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from supdyn.config import RunConfig
from supdyn.data import BatchStream, SparseBatch, sample, stream_seed, torch_generator
from supdyn.model import Student, build_student, population_loss, sampled_loss, step_grads

# fields that models trained together must share (the rest may differ per model)
GROUP_FIELDS = ("variant", "n_features", "d_hidden", "batch", "eval_size", "dtype", "optimizer",
                "eval_exact")


def run_steps(cfg: RunConfig) -> int:
    """Number of SGD steps of a run: round(t_max / lr) (t = lr × steps)."""
    return int(round(cfg.train.t_max / cfg.train.lr))


def group_key(cfg: RunConfig) -> tuple:
    """Runs with equal keys can be trained in one batched call of :func:`train`."""
    return (cfg.variant, cfg.data.n_features, cfg.model.d_hidden, cfg.train.batch,
            cfg.train.eval_size, cfg.train.dtype, cfg.train.optimizer, cfg.eval_exact)


@dataclass
class RunResult:
    """The outcome of one run. Arrays are numpy; t is in units of lr × steps.

    t: (n_eval,)  loss: (n_eval,)  per_feature: (n_eval, n_features) or None
    snapshots: name → (n_snap, ...) arrays (``B``, and ``enc``/``dec`` for learnable), at snapshot_t.
    """

    config: RunConfig
    t: np.ndarray
    loss: np.ndarray
    steps: np.ndarray
    per_feature: np.ndarray | None = None
    snapshot_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)
    diverged: bool = False
    diverged_step: int | None = None
    diverged_t: float | None = None
    wall_time: float = 0.0
    device: str = "cpu"

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"t": self.t, "loss": self.loss, "steps": self.steps, "snapshot_t": self.snapshot_t}
        if self.per_feature is not None:
            out["per_feature"] = self.per_feature
        for name, arr in self.snapshots.items():
            out[f"snapshot_{name}"] = arr
        return out


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush float32 denormals to zero inside the block (CPU), restore the default after."""
    changed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)


def eval_steps(cfg: RunConfig) -> np.ndarray:
    """Steps at which a run is evaluated: 0 and round(t / lr) for log-spaced t in [1, t_max]."""
    lr, t_max, per = cfg.train.lr, cfg.train.t_max, cfg.train.eval_per_decade
    n_steps = run_steps(cfg)
    ts = [0.0]
    if t_max >= 1:
        n_pts = int(np.floor(per * np.log10(t_max) + 1e-9)) + 1
        ts += list(10.0 ** (np.arange(n_pts) / per)) + [t_max]
    steps = np.unique(np.clip(np.round(np.asarray(ts) / lr), 0, n_steps).astype(np.int64))
    return np.union1d(steps, [0, n_steps])


def _sgd_update(st: Student, grads: dict[str, torch.Tensor],
                rows: dict[str, tuple[torch.Tensor, torch.Tensor]], lr: torch.Tensor) -> None:
    """θ ← θ − lr_m g (lr: (n_models,), zero for models that are done or diverged).

    ``rows`` holds row gradients (see :func:`supdyn.model.step_grads`): only those rows change.
    """
    for name, g in grads.items():
        p = st.params[name]
        p.sub_(g.mul_(lr.view(-1, *([1] * (g.dim() - 1)))))
    for name, (idx, val) in rows.items():
        p = st.params[name]
        flat = p.view(p.shape[0] * p.shape[1], p.shape[2])  # (n_models·N, width)
        lr_rows = lr[torch.div(idx, p.shape[1], rounding_mode="floor")]  # (n_rows,)
        flat.index_add_(0, idx, val.mul_(lr_rows[:, None]), alpha=-1)


def train_step(st: Student, batches: Iterator[SparseBatch],
               lr: torch.Tensor | Callable[[np.ndarray], torch.Tensor]) -> np.ndarray:
    """One online SGD step of every model: the next batch of ``batches`` (e.g. a
    :class:`supdyn.data.BatchStream`), loss, gradients, update θ ← θ − lr_m ∇θ L.

    ``lr`` is (n_models,) or a function of the batch loss (host numpy, (n_models,)) returning it
    (used by :func:`train` to freeze diverged models before the update). Non-finite gradient entries
    are zeroed. Returns the batch loss (its copy to the host is the step's one sync of its own).
    """
    x = next(batches)
    batch_loss, grads, rows = step_grads(st, x)
    bl = batch_loss.cpu().numpy()
    lr_now = lr(bl) if callable(lr) else lr
    for g in [*grads.values(), *(v for _, v in rows.values())]:
        g.nan_to_num_(0.0, 0.0, 0.0)
    _sgd_update(st, grads, rows, lr_now)
    return bl


def train(configs: Sequence[RunConfig], *, device: str = "cpu", progress: bool = True,
          on_eval: Callable[[int], None] | None = None) -> list[RunResult]:
    """Train every config (one model each) together and return one RunResult per config.

    All configs must share :data:`GROUP_FIELDS` (see :func:`group_key`); a, b, law, seed, lr,
    t_max, init scale, snapshots and evaluation times may differ.
    """
    configs = list(configs)
    if not configs:
        return []
    keys = {group_key(c) for c in configs}
    if len(keys) > 1:
        raise ValueError(f"configs: runs trained together must share {', '.join(GROUP_FIELDS)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA GPU is available; allowed: cpu")
    with flush_denormals(), torch.no_grad():
        return _train(configs, torch.device(device), progress, on_eval)


def _train(configs: list[RunConfig], device: torch.device, progress: bool,
           on_eval: Callable[[int], None] | None) -> list[RunResult]:
    start = time.perf_counter()
    c0 = configs[0]
    m = len(configs)
    dtype = torch.float64 if c0.train.dtype == "float64" else torch.float32
    st = build_student(configs, device=device, dtype=dtype)
    train_gens = [torch_generator(stream_seed(c.seed, "train"), device) for c in configs]
    batches = BatchStream(st.p, c0.train.batch, train_gens, dtype)
    exact = c0.eval_exact
    eval_set: SparseBatch | None = None
    if not exact:
        eval_gens = [torch_generator(stream_seed(c.seed, "eval"), device) for c in configs]
        eval_set = sample(st.p, c0.train.eval_size, eval_gens, dtype)

    lrs = np.array([c.train.lr for c in configs])
    n_steps = np.array([run_steps(c) for c in configs])
    ev_steps = [eval_steps(c) for c in configs]
    snap_steps = [np.round(np.asarray(c.train.snapshots) / c.train.lr).astype(np.int64) for c in configs]
    per_feature = any(c.train.per_feature for c in configs)
    losses = [np.full(len(s), np.nan) for s in ev_steps]
    pf = [np.full((len(s), c0.data.n_features), np.nan) if c.train.per_feature else None
          for s, c in zip(ev_steps, configs)]
    snaps: list[dict[str, list[np.ndarray]]] = [{} for _ in configs]
    ev_pos = np.zeros(m, dtype=np.int64)
    active = n_steps > 0
    diverged = np.zeros(m, dtype=bool)
    div_step = [None] * m
    loss0 = np.full(m, np.nan)
    lr_t = torch.tensor(lrs, dtype=dtype, device=device)
    eval_at = {int(s) for s in np.concatenate(ev_steps + [s for s in snap_steps if s.size])}
    total = int(n_steps.max())

    def evaluate(step: int) -> None:
        need = [i for i in range(m) if ev_pos[i] < len(ev_steps[i]) and ev_steps[i][ev_pos[i]] == step]
        snap = [i for i in range(m) if step in snap_steps[i]]
        if need:
            loss, per = population_loss(st) if exact else sampled_loss(st, eval_set)
            loss, per = loss.cpu().numpy(), per.cpu().numpy() if per_feature else None
            for i in need:
                losses[i][ev_pos[i]] = np.nan if diverged[i] else loss[i]
                if pf[i] is not None:
                    pf[i][ev_pos[i]] = np.nan if diverged[i] else per[i]
                ev_pos[i] += 1
                if step == 0:
                    loss0[i] = loss[i]
        if snap:
            arrays = st.snapshot()
            for i in snap:
                for name, arr in arrays.items():
                    snaps[i].setdefault(name, []).append(arr[i])
        if on_eval is not None and need:
            on_eval(step)

    def freeze(bl: np.ndarray) -> torch.Tensor:
        """Freeze the models whose batch loss diverged at ``step``; the learning rates of the step."""
        bad = active & (~np.isfinite(bl) | (bl > c0.train.diverge_factor * np.maximum(loss0, 1e-300)))
        for i in np.flatnonzero(bad):
            diverged[i], active[i] = True, False
            div_step[i] = step
            for p in st.params.values():
                p[i].zero_()
        return lr_t * torch.as_tensor(active, device=device, dtype=dtype)

    bar = tqdm(total=total, disable=not progress, unit="step", desc=f"train {m} model(s)",
               mininterval=0.5, leave=False)
    for step in range(total + 1):
        if step in eval_at:
            evaluate(step)
        if step == total:
            break
        active &= step < n_steps
        if not active.any():
            break
        train_step(st, batches, freeze)
        bar.update(1)
    bar.close()
    wall = time.perf_counter() - start
    results = []
    for i, c in enumerate(configs):
        t = ev_steps[i] * c.train.lr
        snap_arrays = {k: np.stack(v) for k, v in snaps[i].items()}
        results.append(RunResult(
            config=c, t=t, loss=losses[i], steps=ev_steps[i], per_feature=pf[i],
            snapshot_t=snap_steps[i] * c.train.lr, snapshots=snap_arrays, diverged=bool(diverged[i]),
            diverged_step=div_step[i], diverged_t=None if div_step[i] is None else div_step[i] * c.train.lr,
            wall_time=wall, device=str(device)))
    return results

