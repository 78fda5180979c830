"""Window sensitivity: (a) local exponent −d log L/d log t with (solid) and without superposition (SGD
dotted, exact theory dashed), thin: with the window's fitted L0 subtracted; (b) α fitted on sliding
one-decade windows against the window's centre, ± 1.96 SE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, cycle_colors, figure, save, shade

CAPTION = (
    "Window sensitivity (our check, not a figure of the paper), a = 1.1, b = 0. (a) The local exponent "
    "−d log L / d log t of the superposition students (solid, one colour per K; thin: with the window's "
    "fitted L0 subtracted) and without superposition (SGD dotted, exact theory dashed); grey: the paper's "
    "window. (b) α fitted on sliding one-decade windows against the window's centre, ± 1.96 SE. Look for "
    "flat lines near α = 1 with superposition (window_alpha_stable) — how much the exponent of "
    "fig5_alpha_universal_a depends on where the window sits.")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(2, 1, width=3.8, height=3.1)
    ax, axs = axes[0, 0], axes[0, 1]
    fw, rng = result["fit_window"], result["scan_range"]
    shade(ax, fw, "paper's fit window")
    axs.axvspan(rng[0], rng[1], color="0.9", alpha=0.5, lw=0, zorder=0, label="range of the claim")
    colors = cycle_colors([c["K"] for c in result["curves"] if c["variant"] != "none"])
    for c in result["curves"]:
        t = arr(c["t"])
        sc = c["scan"]
        centre = np.sqrt(arr(sc["t_lo"]) * arr(sc["t_hi"]))
        al, lo, hi = arr(sc["alpha"]), arr(sc["lo"]), arr(sc["hi"])
        yerr = np.vstack([np.clip(al - lo, 0, None), np.clip(hi - al, 0, None)])
        yerr = np.where(np.isfinite(yerr), yerr, 0.0)
        if c["variant"] == "none":
            col, lab = "0.45", f"no superposition, SGD (K = N = {c['K']})"
            ax.semilogx(t, arr(c["local_exponent"]), color=col, ls=":", lw=1.5, label=lab)
            axs.errorbar(centre, al, yerr=yerr, fmt="s:", color=col, ms=3, capsize=2, mfc="none", label=lab)
            continue
        col = colors[c["K"]]
        ax.semilogx(t, arr(c["local_exponent"]), color=col, lw=1.5, label=f"superposition, K = {c['K']}")
        ax.semilogx(t, arr(c["local_exponent_L0"]), color=col, lw=0.7, alpha=0.7)
        axs.errorbar(centre, al, yerr=yerr, fmt="o-", color=col, ms=3, capsize=2, label=f"K = {c['K']}")
    th = result.get("theory")
    if th:
        lab = f"no superposition, exact theory (N = {th['N']})"
        ax.semilogx(arr(th["t"]), arr(th["local_exponent"]), color="k", ls="--", lw=1.1, label=lab)
        sc = th["scan"]
        axs.semilogx(np.sqrt(arr(sc["t_lo"]) * arr(sc["t_hi"])), arr(sc["alpha"]), "k--", lw=1.1, label=lab)
    ax.plot([], [], color="0.3", lw=0.7, label="thin: −d log(L − L0)/d log t")
    for a in (ax, axs):
        a.axhline(1.0, color="0.3", lw=0.9)
        a.set_xlabel("t = lr × steps")
        a.set_xscale("log")
    ax.set_ylabel("local exponent −d log L / d log t")
    ax.set_ylim(-0.2, 2.5)
    ax.set_title(f"(a) local exponent (±{result['smooth'] / 2:g} decade slope)")
    ax.legend(loc="upper left", fontsize=6.5)
    axs.set_ylabel(f"α fitted on [t, t·10^{result['scan_width']:g}]")
    axs.set_title("(b) sliding-window fits (x: window centre)")
    axs.set_ylim(-0.2, 2.5)
    axs.legend(loc="upper left", fontsize=6.5)
    return save(fig, out_dir, "window")
