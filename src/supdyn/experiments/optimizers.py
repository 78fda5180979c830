"""Optimizers, schedules and weight decay (our addition; reported as checks, not as claims of the paper).

Does the superposition student's α ≈ 1 survive the optimizers people train with? At a ∈ {1.1, 2.0},
b = 0, N = 1024, K = 256 and 3 seeds, five settings (``specs/optimizers.toml``):
    SGD at the paper's constant rate (lr 1, its runs shared with fig5);
    Adam at a constant rate (lr 1e-3);
    AdamW with a cosine schedule (lr 1e-3 down to 5 %) and decoupled weight decay 0.01 on B;
    the learnable student (E, D trained) with SGD at lr 1 and weight decay ±3e-4 on the embedding
    (+: the usual decay; −: the signed form of Liu, Liu & Gore 2025, feature norms pulled to 1).
Every run takes 1e4 steps. Time is the integrated rate t = Σ_k lr_k, so the fit window is the one of
the paper in steps, [1e3, 1e4], mapped to t per setting: t ∈ [T(1e3), T(1e4)] (= lr × steps at a
constant rate; with the cosine, T(1e4) ≈ 0.53 × 1e4 × lr). Measured per setting and a: α of
L = c t^−α + L0 on that window (95 % interval by percentile bootstrap over seeds) and the local
exponent −d log L / d log t at the window's centre in log t (seed-mean curve), and α − α_SGD.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from supdyn.experiments.base import STATED, Experiment, Reading
from supdyn.experiments.common import num, run_meta, seed_fit, seed_groups
from supdyn.fit import local_exponent
from supdyn.train import run_steps, times_of


def setting_label(cfg: Any) -> str:
    """``AdamW + cosine, learned E, D, wd 0.1 on E, D, wd 0.01 on B, lr 0.001``-style name of a setting."""
    tr = cfg.train
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[tr.optimizer]
    parts = [name + (f" + {tr.schedule}" if tr.schedule != "constant" else "")]
    if cfg.variant == "learnable":
        parts.append("learned E, D")
    if tr.weight_decay:
        parts.append(f"wd {tr.weight_decay:g} on E, D")
    if tr.weight_decay_B:
        parts.append(f"wd {tr.weight_decay_B:g} on B")
    return ", ".join(parts + [f"lr {tr.lr:g}"])


def step_window(cfg: Any, steps: tuple[float, float]) -> tuple[float, float]:
    """The times t of steps [lo, hi] (hi capped at the run's last step) of a run."""
    s = np.array([min(steps[0], run_steps(cfg)), min(steps[1], run_steps(cfg))], dtype=np.int64)
    lo, hi = times_of(cfg, s)
    return float(lo), float(hi)


class Optimizers(Experiment):
    name = "optimizers"
    title = "Optimizers, schedules and weight decay — α on the paper's window of steps (our checks)"

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        an = self.analysis(mode)
        steps = tuple(float(v) for v in an.get("fit_steps", (1e3, 1e4)))
        smooth, n_boot = float(an.get("smooth", 0.4)), int(an.get("n_boot", 500))
        rows = []
        for cfg, members, t, losses in seed_groups(runs):
            window = step_window(cfg, steps)
            fit = seed_fit(t, losses, window, reading.fit_offset, n_boot)
            ok = t > 0
            mean = losses[:, ok].mean(axis=0)
            local = local_exponent(t[ok], mean, 0.0, smooth=smooth)
            centre = math.sqrt(window[0] * window[1])
            good = np.isfinite(local)
            mid = float(np.interp(math.log(centre), np.log(t[ok][good]), local[good])) if good.sum() >= 2 else math.nan
            tr = cfg.train
            rows.append({**run_meta(members), "label": setting_label(cfg), "optimizer": tr.optimizer,
                         "schedule": tr.schedule, "weight_decay": tr.weight_decay,
                         "weight_decay_B": tr.weight_decay_B, "window": list(window), "fit_steps": list(steps),
                         "t": t[ok], "x": t[ok] / tr.lr, "loss_mean": mean,
                         "loss_min": losses[:, ok].min(axis=0), "loss_max": losses[:, ok].max(axis=0),
                         "fit": fit, "local_exponent": local, "local_mid": mid, "t_mid": centre,
                         "final_loss": float(mean[-1]) if mean.size else math.nan})
        for r in rows:  # α − α_SGD at the same a (and K)
            ref = [q for q in rows if q["optimizer"] == "sgd" and q["variant"] == "fixed" and q["a"] == r["a"]
                   and q["K"] == r["K"]]
            r["dalpha_sgd"] = num(r["fit"]["alpha"]) - num(ref[0]["fit"]["alpha"]) if ref else math.nan
        return {"mode": mode, "reading": reading.name, "fit_steps": list(steps), "smooth": smooth,
                "fit_offset": reading.fit_offset, "rows": rows}

    def claims(self, result: dict[str, Any]) -> list:
        return []  # checks of ours, not claims of the paper: reported in their own section


EXPERIMENT = Optimizers()
