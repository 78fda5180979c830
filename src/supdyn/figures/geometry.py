"""Feature geometry of one run (``supdyn plot --geometry RUN``): norms, dimensionality, the count of
represented features against t, and the Gram matrix (see :mod:`supdyn.fit.geometry`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from supdyn.figures.common import figure, save
from supdyn.fit.geometry import REPRESENTED_NORM, Geometry

GRAM_FEATURES = 128
"""The Gram panel shows the most frequent features (the first ones) only, so that entries stay visible."""


def draw_geometry(geoms: list[Geometry], out: Path, title: str = "") -> list[Path]:
    """Four panels per embedding (rows: W, or E and D): ‖E_i‖ against i at every snapshot time, D_i at the
    last time, the number of represented features against t, and EᵀE of the first features."""
    fig, axes = figure(4, len(geoms), width=3.2, height=2.8)
    for row, g in zip(axes, geoms):
        n = g.norms.shape[1]
        idx = np.arange(1, n + 1)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(g.t)))
        for k, (tk, c) in enumerate(zip(g.t, colors)):
            row[0].plot(idx, g.norms[k], color=c, lw=0.9, label=f"t = {tk:g}" if k in (0, len(g.t) - 1) else None)
        row[0].axhline(REPRESENTED_NORM, color="0.4", ls=":", lw=0.8, label="represented")
        row[0].set(xscale="log", xlabel="feature i (by frequency)", ylabel=f"‖{g.which}_i‖",
                   title=f"{g.which}: feature norms")
        row[0].legend(loc="best")
        row[1].plot(idx, g.dims[-1], ".", ms=2, color="C1")
        row[1].set(xscale="log", ylim=(-0.05, 1.05), xlabel="feature i", ylabel="D_i",
                   title=f"dimensionality at t = {g.t[-1]:g} (Σ D = {g.dims[-1].sum():.1f})")
        tt = np.where(g.t > 0, g.t, np.nan)
        row[2].plot(tt, g.n_represented, "o-", ms=3)
        row[2].set(xscale="log", ylim=(0, 1.05 * n), xlabel="t = lr × steps",
                   ylabel=f"# features with ‖{g.which}_i‖ ≥ {REPRESENTED_NORM}", title=f"represented features (of {n})")
        m = min(GRAM_FEATURES, n)
        lim = float(np.max(np.abs(g.gram[:m, :m]))) or 1.0
        im = row[3].imshow(g.gram[:m, :m], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        row[3].set(title=f"{g.which}ᵀ{g.which}, first {m} features", xlabel="j", ylabel="i")
        row[3].grid(False)
        fig.colorbar(im, ax=row[3], shrink=0.8)
    if title:
        fig.suptitle(title)
    out = Path(out)
    return save(fig, out.parent, out.stem)
