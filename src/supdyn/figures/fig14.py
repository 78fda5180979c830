"""Fig. 14: compute-optimal width against compute. Grey steps: the discrete argmin K* over the
widths run (dotted where a neighbouring width has no data at that C, so K* is only the best of the
widths whose runs reach it); dots: the continuous K_opt (parabola vertex in log K) where the argmin is interior; line:
the fit K_opt = k0·C^γ over those points; dashed: slope 0.2702 (the paper's γ) through the same
centre, for comparison."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from supdyn.experiments.common import n_of
from supdyn.figures.common import arr, figure, save

CAPTION = (
    "Fig. 14, the compute-optimal width against compute C = t·K² (a = 1.1, b = 0). Grey steps: the best width "
    "of the sweep at each C (dotted where a neighbouring width has no data); dots: the continuous optimum "
    "where the best width is interior; line: the fit K_opt = k0·C^γ; dashed: slope 0.2702, the paper's γ. "
    "Look for a rising staircase (fig7_kopt_increases_with_compute) and the fitted slope against the "
    "dashed one (fig14_kopt_compute_exponent).")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(1, 1, width=4.6, height=3.5)
    ax = axes[0, 0]
    fr = result["frontier"]
    C = arr(fr.get("C", []))
    if C.size:
        ks = arr(fr["K_star"])
        und = np.array([st == "undetermined" for st in result.get("status", [])] or [False] * C.size)
        ax.step(C, np.where(und, np.nan, ks), where="mid", color="0.45", lw=1.4,
                label="argmin K* over the widths run")
        ax.step(C, np.where(und, ks, np.nan), where="mid", color="0.6", lw=1.2, ls=":",
                label="argmin K*, undetermined (a neighbouring\nwidth has no data at that C)")
        inter = np.asarray(fr.get("interior", []), dtype=bool)
        kopt = arr(fr["K_opt"])
        ax.plot(C[inter], kopt[inter], ".", color="C0", ms=4, label="K_opt (interior, parabola vertex)")
        g, k0 = fr.get("gamma"), fr.get("k0")
        if g is not None and k0 is not None and math.isfinite(g) and inter.any():
            cs = np.exp(np.linspace(np.log(C[inter].min()), np.log(C[inter].max()), 50))
            iv = fr.get("gamma_interval", [None, None])
            ivs = f" [{iv[0]:.3f}, {iv[1]:.3f}]" if None not in iv else ""
            ax.plot(cs, k0 * cs**g, color="C3", lw=1.8,
                    label=f"fit γ = {g:.3f}{ivs} ({fr.get('gamma_method')})")
            cm = math.exp(np.log(cs).mean())
            km = k0 * cm**g
            ax.plot(cs, km * (cs / cm) ** result["paper_gamma"], "k--", lw=1.1,
                    label=f"paper slope {result['paper_gamma']:g}")
        for k in arr(fr.get("K", [])):
            ax.axhline(k, color="0.85", lw=0.6, zorder=0)
    if fr.get("error"):
        ax.text(0.03, 0.97, "no fit of γ:\n" + fr["error"].replace("; ", ";\n"), transform=ax.transAxes,
                va="top", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_xlabel(f"compute {result['cost']}  (t = lr × steps)")
    ax.set_ylabel("compute-optimal width K")
    ax.set_title(f"Optimal width against compute (N = {n_of(result['curves'])}, {result['mode']} mode)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    return save(fig, out_dir, "fig14")
