"""Optimizers (our checks): per a, (top) the seed-mean loss of each setting (band: lowest to highest seed)
against t / lr — steps at a constant rate, the integrated rate in units of the peak one with a schedule —
with α fitted on the paper's window of steps in the legend; (bottom) the local exponent −d log L / d log t."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter

from supdyn.figures.common import arr, cycle_colors, figure, num, save

CAPTION = (
    "Optimizers, schedules and weight decay (our checks, no verdict row), K = 256, per a: (top) seed-mean "
    "loss of each setting against t / lr (band: lowest to highest seed), α fitted on the paper's window of "
    "steps in the legend; (bottom) the local exponent −d log L / d log t. Look for whether α ≈ 1 of "
    "fig5_alpha_universal_a survives Adam, AdamW with a cosine schedule and weight decay on learned "
    "embeddings.")


def _alpha(row: dict[str, Any]) -> str:
    f = row["fit"]
    al = num(f["alpha"])
    return f"α = {al:.2f} [{num(f['lo']):.2f}, {num(f['hi']):.2f}]" if np.isfinite(al) else "no fit"


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    rows = result["rows"]
    a_values = sorted({r["a"] for r in rows}) or [float("nan")]
    fig, axes = figure(len(a_values), 2, width=4.2, height=3.0)
    colors = cycle_colors([r["label"] for r in rows])
    for j, a in enumerate(a_values):
        ax, axl = axes[0, j], axes[1, j]
        for r in [r for r in rows if r["a"] == a]:
            x, col = arr(r["x"]), colors[r["label"]]
            ls = "--" if r["variant"] == "learnable" else "-"
            ax.loglog(x, arr(r["loss_mean"]), color=col, ls=ls, label=f"{r['label']}: {_alpha(r)}")
            ax.fill_between(x, arr(r["loss_min"]), arr(r["loss_max"]), color=col, alpha=0.15, lw=0)
            axl.semilogx(x, arr(r["local_exponent"]), color=col, ls=ls)
            lo, hi = (v / r["lr"] for v in r["window"])
            ax.axvspan(lo, hi, color="0.85", alpha=0.25, lw=0, zorder=0)
        axl.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set_title(f"a = {a:g}: loss, α on steps {result['fit_steps'][0]:g}–{result['fit_steps'][1]:g}")
        ax.set_xlabel("t / lr (steps at a constant rate)")
        ax.set_ylabel("loss L")
        ax.legend(loc="lower left", fontsize=5.5)
        axl.set_title(f"a = {a:g}: local exponent −d log L / d log t")
        axl.set_xlabel("t / lr")
        axl.set_ylabel("local exponent")
        for a_ in (ax, axl):
            a_.xaxis.set_minor_formatter(NullFormatter())
    return save(fig, out_dir, "optimizers")
