"""Experiments: one per figure of the paper (plus our additions), in a registry by name.

Each module of this package defines ``EXPERIMENT``, an instance of
:class:`supdyn.experiments.base.Experiment`. :func:`get` and :data:`NAMES` give access by name.
"""

from __future__ import annotations

import importlib
import importlib.util

from supdyn.config import ConfigError
from supdyn.experiments.base import MODES, STATED, Claim, Experiment, Reading, settings

# experiment modules, in report order (a name whose module is absent is skipped)
ORDER = ["fig3", "fig4", "fig5", "fig6", "window", "fig7", "fig8", "fig9", "fig10_11", "fig12",
         "fig13", "fig14"]

NAMES: list[str] = []
_REGISTRY: dict[str, Experiment] = {}
for _mod in ORDER:
    if importlib.util.find_spec(f"supdyn.experiments.{_mod}") is None:
        continue
    _exp = importlib.import_module(f"supdyn.experiments.{_mod}").EXPERIMENT
    _REGISTRY[_exp.name] = _exp
    NAMES.append(_exp.name)


def readings() -> list[Reading]:
    """Every reading of the paper's unstated choices (see ``supdyn.experiments.readings``)."""
    if importlib.util.find_spec("supdyn.experiments.readings") is None:
        return [STATED]
    return list(importlib.import_module("supdyn.experiments.readings").READINGS)


def get(name: str) -> Experiment:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"only: unknown experiment {name!r}; allowed: {', '.join(NAMES)}") from None


__all__ = ["MODES", "NAMES", "STATED", "Claim", "Experiment", "Reading", "get", "readings", "settings"]
