"""Figures: one drawing function per experiment; matplotlib (Agg) is used only in this package.

Each figure module defines ``draw(result: dict, out_dir: Path) -> list[Path]`` for the experiment of
the same name, taking the JSON-able result of ``Experiment.analyze`` and writing PNG and PDF files
readable in a paper; it is registered in :data:`DRAWERS`, and :func:`draw` dispatches by experiment
name. A new figure is its module and one line in :data:`DRAWERS`. Each figure module also defines a
module-level ``CAPTION`` (what the figure shows, what to look at, which claim ids of docs/claims.md it
bears on), collected in :data:`CAPTIONS` and returned by :func:`caption`. The style, ``save`` and the small
helpers every figure uses are in :mod:`supdyn.figures.common`; :mod:`supdyn.figures.readings` draws the
readings section's figure and :mod:`supdyn.figures.curves` the curves of ``supdyn plot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import matplotlib

from supdyn.figures import (appendix, fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10_11, fig12, fig13, fig14,
                            geometry, optimizers, readings, universality, window)
from supdyn.figures.common import STYLE, figure, save

#: experiment name → its drawing function
DRAWERS: dict[str, Callable[[dict[str, Any], Path], list[Path]]] = {
    "fig3": fig3.draw, "fig4": fig4.draw, "fig5": fig5.draw, "fig6": fig6.draw, "window": window.draw,
    "fig7": fig7.draw, "fig8": fig8.draw, "fig9": fig9.draw, "fig10_11": fig10_11.draw, "fig12": fig12.draw,
    "fig13": fig13.draw, "fig14": fig14.draw, "appendix": appendix.draw,
    "optimizers": optimizers.draw, "geometry": geometry.draw, "universality": universality.draw,
}

#: experiment name → the caption of its figure(s) (each module's ``CAPTION``)
CAPTIONS: dict[str, str] = {
    "fig3": fig3.CAPTION, "fig4": fig4.CAPTION, "fig5": fig5.CAPTION, "fig6": fig6.CAPTION,
    "window": window.CAPTION, "fig7": fig7.CAPTION, "fig8": fig8.CAPTION, "fig9": fig9.CAPTION,
    "fig10_11": fig10_11.CAPTION, "fig12": fig12.CAPTION, "fig13": fig13.CAPTION, "fig14": fig14.CAPTION,
    "appendix": appendix.CAPTION,
    "optimizers": optimizers.CAPTION, "geometry": geometry.CAPTION,
    "universality": universality.CAPTION,
}


def caption(name: str) -> str:
    """The caption of experiment ``name``'s figure: what it shows, what to look at, which claims."""
    if name not in CAPTIONS:
        raise ValueError(f"figure: no caption for experiment {name!r}; allowed: {', '.join(CAPTIONS)}")
    return CAPTIONS[name]


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


__all__ = ["CAPTIONS", "DRAWERS", "STYLE", "caption", "draw", "draw_readings", "figure", "save"]
