"""Fig. 7: (a) seed-mean loss curves of each width K against compute C = t·K^p with the
compute-optimal envelope (black); (b) iso-compute loss against K at four log-uniform C, the argmin
marked (filled star: interior minimum, open circle: at the edge of the widths with data).

The helpers ``arr`` and ``k_colors`` are shared with fig13 and fig14."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np

from supdyn.figures import figure, save


def arr(x: Any) -> np.ndarray:
    """A float array from a result entry (JSON null → NaN)."""
    a = np.asarray(x if x is not None else [], dtype=object)
    return np.asarray([np.nan if v is None else v for v in a.ravel()], dtype=float).reshape(a.shape)


def k_colors(ks: list[int]) -> dict[int, Any]:
    """One viridis colour per width, small K dark."""
    ks = sorted(set(ks))
    cmap = mpl.colormaps["viridis"]
    return {k: cmap(0.9 * i / max(len(ks) - 1, 1)) for i, k in enumerate(ks)}


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(2, 1, width=3.9, height=3.2)
    ax, bx = axes[0, 0], axes[0, 1]
    curves = result["curves"]
    colors = k_colors([c["K"] for c in curves])
    for c in curves:
        ax.loglog(arr(c["C"]), arr(c["loss_mean"]), color=colors[c["K"]], lw=1.2,
                  label=f"K = {c['K']} (t ≤ {c['t_max']:g})")
    fr = result["frontier"]
    if fr.get("C") is not None and len(fr.get("C", [])):
        ax.loglog(arr(fr["C"]), arr(fr["L_star"]), color="k", lw=2.2, alpha=0.8, label="envelope min_K L")
    iso = result["iso"]
    for c in arr(iso["C"]):
        ax.axvline(c, color="0.5", ls=":", lw=0.9)
    ax.set_xlabel(f"compute {result['cost']}  (t = lr × steps)")
    ax.set_ylabel("loss L")
    ax.set_title("(a) loss against compute, optimal envelope")
    ax.legend(fontsize=7, loc="lower left")

    K = arr(iso["K"])
    L = arr(iso["loss"])
    lc = mpl.colormaps["plasma"]
    n = len(iso["C"])
    for i, c in enumerate(arr(iso["C"])):
        col = lc(0.85 * i / max(n - 1, 1))
        row = L[i]
        bx.loglog(K, row, "o-", color=col, ms=3.5, label=f"C = {c:.2g}")
        if np.isfinite(iso["argmin_K"][i] if iso["argmin_K"][i] is not None else np.nan):
            j = int(np.flatnonzero(K == iso["argmin_K"][i])[0])
            if iso["interior"][i]:
                bx.plot(K[j], row[j], "*", color=col, ms=13, mec="k", mew=0.6)
            else:
                bx.plot(K[j], row[j], "o", mfc="none", mec="k", ms=9, mew=1.0)
    bx.plot([], [], "*", color="0.5", mec="k", ms=11, label="interior minimum")
    bx.plot([], [], "o", mfc="none", mec="k", ms=8, label="minimum at an edge")
    bx.set_xscale("log", base=2)
    bx.set_xlabel("student width K")
    bx.set_ylabel("loss L at fixed compute")
    bx.set_title("(b) iso-compute curves")
    bx.legend(fontsize=7)
    a = curves[0] if curves else {"a": "?", "b": "?", "N": "?"}
    fig.suptitle(f"Compute-optimal frontier, superposition students (a = {a['a']}, b = {a['b']}, "
                 f"N = {a['N']}; {result['mode']} mode)", fontsize=10)
    return save(fig, out_dir, "fig7")
