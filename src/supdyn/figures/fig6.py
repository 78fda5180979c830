"""Fig. 6: superposition loss curves (solid) with their power-law fits c t^−α + L0 (black dashed, drawn on
the fit window) and the fitted α in the legend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, num, save, shade

CAPTION = (
    "Fig. 6, superposition students (K = 256): sample loss curves (solid) for several (a, b) with their "
    "power-law fits c t^−α + L0 (black dashed) drawn on the shaded fit window, α and its 95% interval in "
    "the legend. Look for the dashed fits following the curves across the window and for α near 1 in "
    "every legend entry (fig6_power_law_alpha_one; a < 1, the paper's a = 0.5, only in the full grid); a "
    "dashed fit that bends away from its curve by more than 2% in L somewhere on the window fails the "
    "power-law form (fig6_power_law_fit_quality).")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(1, 1, width=4.6, height=3.6)
    ax = axes[0, 0]
    fw = result["fit_window"]
    shade(ax, fw)
    for i, c in enumerate(result["curves"]):
        f = c["fit"]
        al, lo, hi = num(f["alpha"]), num(f["lo"]), num(f["hi"])
        lab = f"a={c['a']:g}, b={c['b']:g}: " + (f"α = {al:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(al)
                                                  else "no fit")
        ax.loglog(arr(c["t"]), arr(c["loss_mean"]), color=f"C{i % 10}", lw=1.6, label=lab)
        if np.isfinite(al):
            tw = np.logspace(np.log10(fw[0]), np.log10(fw[1]), 40)
            ax.loglog(tw, num(f["c"]) * tw ** -al + num(f["L0"]), color="k", ls="--", lw=1.0)
    ax.plot([], [], color="k", ls="--", lw=1.0, label="fit c t^−α + L0")
    ks = sorted({c["K"] for c in result["curves"]})
    ax.set_xlabel("t = lr × steps")
    ax.set_ylabel("loss L(t)")
    ax.set_title(f"Superposition, K = {', '.join(map(str, ks))}: power-law fits (95% CI)")
    ax.legend(loc="lower left", fontsize=7)
    return save(fig, out_dir, "fig6")
