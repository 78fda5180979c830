"""Fig. 5: fitted α vs a (b = 0) and vs b (a = 1.1), one line per K, with 95% intervals; dashed: the
no-superposition asymptote (a + 2b − 1)/a (eq. 8); open squares: the exact no-superposition theory at
N = 1024 fitted on the same window; grey: α = 1 and the ±tolerance band of the claim's rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, cycle_colors, figure, num, save

CAPTION = (
    "Fig. 5, superposition students (fixed random W, ReLU and bias). The exponent α fitted to c t^−α + L0 "
    "on t ∈ [1e3, 1e4] against a (b = 0, panel a) and against b (a = 1.1, panel b), one line per width K "
    "with 95% intervals; grey: α = 1 and the ± tolerance band of the rule; dashed: the no-superposition "
    "asymptote (a + 2b − 1)/a; open squares: the exact no-superposition theory fitted on the same window. "
    "Look for every point inside the band whatever a, b and K (fig5_alpha_universal_a, "
    "fig5_alpha_universal_b) and for the gap to the dashed line at a = 1.1, b = 0 "
    "(fig5_superposition_accelerates_exponent) and to the open square there "
    "(fig5_superposition_accelerates_exponent_finite_n).")


Y_MAX = 2.0  # α axis limit; larger fitted values are drawn as labelled arrows


def _panel(ax: Any, result: dict[str, Any], var: str) -> None:
    pts = [p for p in result["points"] if p[f"panel_{var}"]]
    rules = result["rules"]
    tgt, tol = rules["alpha_target"], rules["alpha_tol"]
    colors = cycle_colors([p["K"] for p in result["points"]])
    ks = sorted({p["K"] for p in pts})
    n = len(ks)
    xs_all = sorted({p[var] for p in pts})
    span = (max(xs_all) - min(xs_all)) if len(xs_all) > 1 else 1.0
    dx = 0.012 * span  # small horizontal offsets so the error bars of different K do not overlap
    for j, k in enumerate(ks):
        sel = sorted((p for p in pts if p["K"] == k), key=lambda p: p[var])
        x = np.array([p[var] for p in sel]) + (j - (n - 1) / 2) * dx
        y = np.array([num(p["fit"]["alpha"]) for p in sel])
        lo = np.array([num(p["fit"]["lo"]) for p in sel])
        hi = np.array([num(p["fit"]["hi"]) for p in sel])
        yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
        yerr = np.where(np.isfinite(yerr), yerr, 0.0)
        ax.errorbar(x, y, yerr=yerr, fmt="o-", color=colors[k], ms=4, capsize=2, label=f"K = {k}")
        for xi, yi, p in zip(x, y, sel):
            if p.get("warnings"):  # flagged fits (plateau / poor power law): ring around the marker
                ax.plot([xi], [min(yi, Y_MAX * 0.97)], "o", ms=10, mfc="none", color="r", lw=1.0)
            if yi > Y_MAX:  # off-scale: an arrow at the top with the value
                ax.annotate(f"{yi:.2f}", (xi, Y_MAX * 0.97), xytext=(xi, Y_MAX * 0.82), color=colors[k],
                            fontsize=7, ha="center", arrowprops={"arrowstyle": "->", "color": colors[k]})
    if xs_all:
        line = result["asymptote_lines"][var]
        ax.plot(arr(line["x"]), arr(line["alpha"]), color="k", ls="--", lw=1.1, label="no superposition, (a+2b−1)/a")
        th = sorted({(p[var], num(p["alpha_nosup_theory"])) for p in pts})
        ax.plot([t[0] for t in th], [t[1] for t in th], "s", mfc="none", color="0.3", ms=6,
                label=f"no-sup. exact theory, N = {pts[0]['N']}")
    ax.axhline(tgt, color="0.3", lw=1.0)
    ax.axhspan(tgt - tol, tgt + tol, color="0.6", alpha=0.15, lw=0, label=f"α = {tgt:g} ± {tol:g}")
    ax.set_xlabel("input decay a" if var == "a" else "channel importance decay b")
    fw = result["fit_window"]
    ax.set_ylabel(f"fitted α on t ∈ [{fw[0]:g}, {fw[1]:g}]")
    fixed = f"b = {result['ref_b']:g}" if var == "a" else f"a = {result['ref_a']:g}"
    ax.set_title(f"({'a' if var == 'a' else 'b'}) α vs {var} ({fixed})")
    ax.plot([], [], "o", ms=10, mfc="none", color="r", label="flagged fit (see claim details)")
    ax.set_ylim(0.0, min(max(ax.get_ylim()[1], tgt + 2 * tol), Y_MAX))


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(2, 1, width=3.8, height=3.1)
    _panel(axes[0, 0], result, "a")
    _panel(axes[0, 1], result, "b")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle(f"Superposition student: fitted exponent (N = {result['points'][0]['N'] if result['points'] else '?'}, "
                 f"95% intervals)", fontsize=10)
    return save(fig, out_dir, "fig5")
