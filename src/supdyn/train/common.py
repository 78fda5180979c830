"""What both training loops share: step counts, packing keys, the result of a run, and the recorder
that evaluates the models at their evaluation and snapshot steps.

Time is t = lr × steps at a constant rate, the integrated rate t = Σ_k lr_k with a schedule
(:mod:`supdyn.train.schedule`); a run stops after round(t_max / lr) steps, lr its peak rate. The loss is
evaluated at t = 0 and at ``eval_per_decade`` log-spaced times per decade in [1, t_end] (t_end = t_max
at a constant rate; each time at its nearest step), either exactly (linear students,
``population_loss``) or on a held-out set drawn once per run from its ``eval`` stream
(``sampled_loss``), accumulated in float64.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from supdyn.config import RunConfig
from supdyn.data import SparseBatch, sample, stream_seed, torch_generator
from supdyn.data.static_sampler import StaticSampler, to_sparse
from supdyn.model import Student, population_loss, sampled_loss
from supdyn.train.schedule import run_steps, step_times, steps_at, times_of

# fields that models trained together must share (the rest may differ per model)
GROUP_FIELDS = ("variant", "n_features", "d_hidden", "batch", "eval_size", "dtype", "optimizer",
                "eval_exact", "correlation", "group_size", "loss_reduction")


def group_key(cfg: RunConfig) -> tuple:
    """Runs with equal keys can be trained in one batched call of :func:`supdyn.train.train`."""
    key = (cfg.variant, cfg.data.n_features, cfg.model.d_hidden, cfg.train.batch,
           cfg.train.eval_size, cfg.train.dtype, cfg.train.optimizer, cfg.eval_exact, cfg.train.loss_reduction)
    d = cfg.data
    return key if d.correlation == "none" else key + (d.correlation, d.group_size)


def param_dtype(cfg: RunConfig) -> torch.dtype:
    """Parameters' dtype: float64 for ``dtype = "float64"``, else float32 (``tf32`` too: only its
    CUDA matmuls differ)."""
    return torch.float64 if cfg.train.dtype == "float64" else torch.float32


@dataclass
class RunResult:
    """The outcome of one run. Arrays are numpy; t is in units of lr × steps.

    t: (n_eval,)  loss: (n_eval,)  per_feature: (n_eval, n_features) or None
    snapshots: name → (n_snap, ...) arrays (``B``, and ``enc``/``dec`` for learnable), at snapshot_t.
    engine: the training step that produced it (``sparse``, ``static`` or ``static+graphs``).
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
    engine: str = "sparse"

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


def eval_steps(cfg: RunConfig, table: np.ndarray | None = None) -> np.ndarray:
    """Steps at which a run is evaluated: 0, the last, and the step nearest to each log-spaced t in
    [1, t_end] (round(t / lr) at a constant rate, t_end = t_max; with a schedule t_end = T(n), the
    integrated rate at the end). ``table``: the run's :func:`supdyn.train.schedule.step_times`."""
    per, n_steps = cfg.train.eval_per_decade, run_steps(cfg)
    table = step_times(cfg) if table is None else table
    t_end = cfg.train.t_max if table is None else float(table[-1])
    ts = [0.0]
    if t_end >= 1:
        n_pts = int(np.floor(per * np.log10(t_end) + 1e-9)) + 1
        ts += list(10.0 ** (np.arange(n_pts) / per)) + [t_end]
    steps = np.unique(steps_at(cfg, np.asarray(ts), table))
    return np.union1d(steps, [0, n_steps])


def eval_set(configs: list[RunConfig], st: Student, device: torch.device) -> SparseBatch | None:
    """The held-out evaluation samples of every run (its ``eval`` stream), or None for exact losses."""
    if configs[0].eval_exact:
        return None
    size = configs[0].train.eval_size
    if st.groups is not None:  # correlated features: one draw of the static sampler from the eval stream
        smp = StaticSampler(st.p, st.teacher, size, [stream_seed(c.seed, "eval") for c in configs],
                            st.teacher.dtype, groups=st.groups, vmax=[c.data.value_max for c in configs])
        return to_sparse(smp.draw(torch.zeros((), dtype=torch.int64, device=device), 1), 0, len(configs),
                         smp.rows, st.n_features, size)
    gens = [torch_generator(stream_seed(c.seed, "eval"), device) for c in configs]
    return sample(st.p, size, gens, st.teacher.dtype, [c.data.value_max for c in configs])


class Recorder:
    """Evaluation losses, per-feature losses and snapshots of every model at its own steps.

    ``events`` are the steps (ascending) at which some model is evaluated or snapshotted;
    :meth:`evaluate` is called at each (a diverged model's values are NaN); :meth:`results` builds
    the :class:`RunResult` list. ``loss0`` (n_models,) is the loss at t = 0 (the divergence scale).
    ``slot[i]``: the index of run i in the Student (−1 once dropped, see :meth:`shrink`).
    """

    def __init__(self, configs: list[RunConfig], st: Student, xs: SparseBatch | None, *,
                 eval_chunk: int = 4096) -> None:
        self.configs, self.st, self.xs, self.chunk = configs, st, xs, eval_chunk
        n = configs[0].data.n_features
        self.tables = [step_times(c) for c in configs]  # T(s) with a schedule, else None
        self.ev_steps = [eval_steps(c, tb) for c, tb in zip(configs, self.tables)]
        self.snap_steps = [steps_at(c, np.asarray(c.train.snapshots), tb) for c, tb in zip(configs, self.tables)]
        self.per_feature = any(c.train.per_feature for c in configs)
        self.losses = [np.full(len(s), np.nan) for s in self.ev_steps]
        self.pf = [np.full((len(s), n), np.nan) if c.train.per_feature else None
                   for s, c in zip(self.ev_steps, configs)]
        self.snaps: list[dict[str, list[np.ndarray]]] = [{} for _ in configs]
        self.ev_pos = np.zeros(len(configs), dtype=np.int64)
        self.loss0 = np.full(len(configs), np.nan)
        self.slot = np.arange(len(configs))
        self.events = sorted({int(s) for s in np.concatenate(self.ev_steps + [s for s in self.snap_steps
                                                                               if s.size])})

    def evaluate(self, step: int, diverged: np.ndarray, on_eval: Callable[[int], None] | None) -> None:
        """Record the models whose next evaluation (or a snapshot) is at ``step``. ``diverged``: per run."""
        m, pos, slot = len(self.configs), self.ev_pos, self.slot
        need = [i for i in range(m) if pos[i] < len(self.ev_steps[i]) and self.ev_steps[i][pos[i]] == step]
        snap = [i for i in range(m) if step in self.snap_steps[i]]
        if any(slot[i] >= 0 for i in need):
            st = self.st
            loss, per = population_loss(st) if self.xs is None else sampled_loss(st, self.xs, chunk=self.chunk)
            loss, per = loss.cpu().numpy(), per.cpu().numpy() if self.per_feature else None
        for i in need:
            if slot[i] < 0 and not diverged[i]:
                raise RuntimeError(f"run {i} was dropped before its evaluation at step {step}")
            self.losses[i][pos[i]] = np.nan if diverged[i] else loss[slot[i]]
            if self.pf[i] is not None:
                self.pf[i][pos[i]] = np.nan if diverged[i] else per[slot[i]]
            pos[i] += 1
            if step == 0:
                self.loss0[i] = loss[slot[i]]
        if snap:
            arrays = self.st.snapshot()
            for i in snap:  # a dropped run diverged: its parameters were zeroed
                for name, arr in arrays.items():
                    self.snaps[i].setdefault(name, []).append(arr[slot[i]] if slot[i] >= 0 else np.zeros_like(arr[0]))
        if on_eval is not None and need:
            on_eval(step)

    def shrink(self, st: Student, keep: np.ndarray) -> None:
        """The Student now holds only the runs at slots ``keep`` (in that order)."""
        new = np.full(len(self.configs), -1)
        live = np.flatnonzero(self.slot >= 0)
        where = {int(s): int(i) for i, s in zip(live, self.slot[live])}
        for j, s in enumerate(keep):
            new[where[int(s)]] = j
        self.slot, self.st = new, st
        if self.xs is not None:
            self.xs = self.xs.models(keep)

    def results(self, diverged: np.ndarray, div_step: list[int | None], wall: float, device: torch.device,
                engine: str) -> list[RunResult]:
        out = []
        for i, c in enumerate(self.configs):
            tb = self.tables[i]
            out.append(RunResult(
                config=c, t=times_of(c, self.ev_steps[i], tb), loss=self.losses[i], steps=self.ev_steps[i],
                per_feature=self.pf[i], snapshot_t=times_of(c, self.snap_steps[i], tb),
                snapshots={k: np.stack(v) for k, v in self.snaps[i].items()}, diverged=bool(diverged[i]),
                diverged_step=div_step[i],
                diverged_t=None if div_step[i] is None else float(times_of(c, np.array([div_step[i]]), tb)[0]),
                wall_time=wall, device=str(device), engine=engine))
        return out
