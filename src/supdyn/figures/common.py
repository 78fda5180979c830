"""What every figure shares: the style, a new figure, saving PNG and PDF, reading result entries, the
shaded fit window and the two palettes.

Every figure module imports what it shares from here (never from another figure module); ``num``
is :func:`supdyn.experiments.common.num`, re-exported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from supdyn.experiments.common import num  # noqa: E402 - a float from a result entry (JSON null → NaN)

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "font.size": 10, "axes.titlesize": 10,
    "axes.labelsize": 10, "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "lines.linewidth": 1.4, "axes.grid": True, "grid.alpha": 0.3, "figure.constrained_layout.use": True,
}


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8, **kw: Any):
    """A new figure with the package style: ``width``/``height`` per panel, in inches."""
    with plt.rc_context(STYLE):
        return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def save(fig: "plt.Figure", out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into out_dir and close the figure. Both are drawn into
    temporary files first and renamed into place only when both are complete: a failure (disk full,
    permissions) leaves no partial file and no temporary one."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    tmps = [p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in paths]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for p, tmp in zip(paths, tmps):
            fig.savefig(tmp, bbox_inches="tight", format=p.suffix[1:])
        for p, tmp in zip(paths, tmps):
            os.replace(tmp, p)
    finally:
        plt.close(fig)
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return paths


def arr(x: Any) -> np.ndarray:
    """A float array from a result entry (JSON null → NaN; a missing entry, None, → empty)."""
    a = np.asarray(x if x is not None else [], dtype=object)
    return np.asarray([np.nan if v is None else v for v in a.ravel()], dtype=float).reshape(a.shape)


def shade(ax: Any, window: list[float], label: str | None = "fit window") -> None:
    """Grey band over the fit window (x axis = t)."""
    ax.axvspan(window[0], window[1], color="0.85", alpha=0.5, lw=0, label=label, zorder=0)


def cycle_colors(keys: list[Any]) -> dict[Any, str]:
    """One colour of matplotlib's default cycle (C0, C1, ...) per distinct key, in sorted order: for
    curves that are compared, not ordered (e.g. a few widths K side by side)."""
    return {k: f"C{i % 10}" for i, k in enumerate(sorted(set(keys)))}


def viridis_colors(keys: list[Any]) -> dict[Any, Any]:
    """One viridis colour per distinct key, in sorted order from dark to light: for an ordered sweep
    (e.g. many widths K, small K dark)."""
    keys = sorted(set(keys))
    cmap = matplotlib.colormaps["viridis"]
    return {k: cmap(0.9 * i / max(len(keys) - 1, 1)) for i, k in enumerate(keys)}

