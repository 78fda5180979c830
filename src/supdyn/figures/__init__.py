"""Figures: one drawing function per experiment, matplotlib (Agg) only here and in ``report``.

Each module of this package defines ``draw(result: dict, out_dir: Path) -> list[Path]`` for the
experiment of the same name, taking the JSON-able result of ``Experiment.analyze`` and writing
PNG and PDF files readable in a paper. :func:`draw` dispatches by experiment name.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

def _available() -> list[str]:
    import importlib.util

    from supdyn.experiments import NAMES as ORDER

    return [n for n in ORDER if importlib.util.find_spec(f"supdyn.figures.{n}") is not None]


# experiment name → figure module of the same name
MODULES: list[str] = _available()

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "font.size": 10, "axes.titlesize": 10,
    "axes.labelsize": 10, "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "lines.linewidth": 1.4, "axes.grid": True, "grid.alpha": 0.3, "figure.constrained_layout.use": True,
}


def save(fig: "plt.Figure", out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into out_dir and close the figure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8, **kw: Any):
    """A new figure with the package style: ``width``/``height`` per panel, in inches."""
    with plt.rc_context(STYLE):
        return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


def draw(name: str, result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw the figure(s) of experiment ``name`` from its analysis result."""
    if name not in MODULES:
        raise ValueError(f"figure: no drawing for experiment {name!r}; allowed: {', '.join(MODULES)}")
    with plt.rc_context(STYLE):
        return importlib.import_module(f"supdyn.figures.{name}").draw(result, Path(out_dir))
