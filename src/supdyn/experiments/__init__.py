"""Experiments: one per figure of the paper (plus our additions), in a registry by name.

Each experiment module defines ``EXPERIMENT``, an instance of :class:`supdyn.experiments.base.Experiment`,
and is registered below, in report order; :func:`get` and :data:`NAMES` give access by name. A new
experiment is its module, its spec ``specs/<name>.toml`` and one line in :data:`EXPERIMENTS`. Helpers
shared by several experiments live in :mod:`supdyn.experiments.common`, the verdict rules in
:mod:`supdyn.experiments.rules`; :data:`READINGS` (module
:mod:`supdyn.experiments.readings`) lists the readings of the paper's unstated choices.
"""

from __future__ import annotations

from supdyn.config import ConfigError
from supdyn.experiments import (appendix, fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10_11, fig12, fig13,
                                fig14, geometry, optimizers, readings, universality, window)
from supdyn.experiments.base import MODES, STATED, Claim, Experiment, Reading, settings

#: every experiment, in report order
EXPERIMENTS: tuple[Experiment, ...] = (
    fig3.EXPERIMENT, fig4.EXPERIMENT, fig5.EXPERIMENT, fig6.EXPERIMENT, window.EXPERIMENT, fig7.EXPERIMENT,
    fig8.EXPERIMENT, fig9.EXPERIMENT, fig10_11.EXPERIMENT, fig12.EXPERIMENT, fig13.EXPERIMENT, fig14.EXPERIMENT,
    appendix.EXPERIMENT,
    optimizers.EXPERIMENT, geometry.EXPERIMENT, universality.EXPERIMENT,
)
#: experiments that quick and full reproductions run only when named (``--only``): their grids exceed the budget
ON_REQUEST: tuple[str, ...] = ("optimizers", "geometry", "universality")
NAMES: list[str] = [e.name for e in EXPERIMENTS]
_REGISTRY: dict[str, Experiment] = {e.name: e for e in EXPERIMENTS}

#: every reading of the paper's unstated choices, STATED first
READINGS: list[Reading] = readings.READINGS


def get(name: str) -> Experiment:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"only: unknown experiment {name!r}; allowed: {', '.join(NAMES)}") from None


__all__ = ["EXPERIMENTS", "MODES", "NAMES", "ON_REQUEST", "READINGS", "STATED", "Claim", "Experiment", "Reading", "get",
           "settings"]
