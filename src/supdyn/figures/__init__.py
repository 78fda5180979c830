"""Figures: one drawing function per experiment; matplotlib (Agg) is used only in this package.

Each figure module defines ``draw(result: dict, out_dir: Path) -> list[Path]`` for the experiment of
the same name, taking the JSON-able result of ``Experiment.analyze`` and writing PNG and PDF files
readable in a paper; it is registered in :data:`DRAWERS`, and :func:`draw` dispatches by experiment
name. A new figure is its module and one line in :data:`DRAWERS`. The style, ``save`` and the small
helpers every figure uses are in :mod:`supdyn.figures.common`; :mod:`supdyn.figures.readings` draws the
readings section's figure and :mod:`supdyn.figures.curves` the curves of ``supdyn plot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import matplotlib

from supdyn.figures import (fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10_11, fig12, fig13, fig14, geometry,
                            optimizers, readings, window)
from supdyn.figures.common import STYLE, figure, save

#: experiment name → its drawing function
DRAWERS: dict[str, Callable[[dict[str, Any], Path], list[Path]]] = {
    "fig3": fig3.draw, "fig4": fig4.draw, "fig5": fig5.draw, "fig6": fig6.draw, "window": window.draw,
    "fig7": fig7.draw, "fig8": fig8.draw, "fig9": fig9.draw, "fig10_11": fig10_11.draw, "fig12": fig12.draw,
    "fig13": fig13.draw, "fig14": fig14.draw,
    "optimizers": optimizers.draw, "geometry": geometry.draw,
}


def draw(name: str, result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw the figure(s) of experiment ``name`` from its analysis result."""
    if name not in DRAWERS:
        raise ValueError(f"figure: no drawing for experiment {name!r}; allowed: {', '.join(DRAWERS)}")
    with matplotlib.rc_context(STYLE):
        return DRAWERS[name](result, Path(out_dir))


def draw_readings(results: dict[str, dict[str, Any]], readings_list: list[Any], out_dir: Path) -> list[Path]:
    """Draw the readings section's figure (see :mod:`supdyn.figures.readings`)."""
    with matplotlib.rc_context(STYLE):
        return readings.draw(results, readings_list, Path(out_dir))


__all__ = ["DRAWERS", "STYLE", "draw", "draw_readings", "figure", "save"]
