"""The experiment framework: specs, readings, claims.

An experiment reproduces one figure of the paper. Its spec is a small TOML file in
``supdyn/specs/<name>.toml`` with one table per mode (``quick``, ``full``), each a grid spec
(``base`` + ``grid``, see :func:`supdyn.config.expand_grid`), and an ``analysis`` table. Training
settings common to every experiment of a mode (lr, batch, evaluation, recording) live in
``specs/_settings.toml`` so that figures share runs: the store computes each run once.

A *reading* is a named set of the choices the paper leaves unstated (frequency normalization,
learning rate, batch, B's initialization scale, and whether the fit's offset L0 is free); every
experiment can be planned and analyzed under any reading.

An experiment is three steps: ``configs(mode, reading)`` → the runs it needs; ``analyze(runs, ...)``
→ a JSON-able result dict (fits with windows and uncertainties, curves to draw); ``claims(result)``
→ rows of the claims table, each with the paper's value, ours, the rule and the verdict.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Sequence

from supdyn.config import ConfigError, RunConfig, expand_grid
from supdyn.experiments.common import window_of

MODES = ("smoke", "quick", "full")
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested")


def read_spec(name: str) -> dict[str, Any]:
    """The parsed TOML spec ``supdyn/specs/<name>.toml`` shipped with the package."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    path = resources.files("supdyn") / "specs" / f"{name}.toml"
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"experiment: no spec named {name!r}") from None


def settings(mode: str) -> dict[str, Any]:
    """Training settings shared by every experiment in ``mode`` (from ``specs/_settings.toml``)."""
    if mode == "readings":
        mode = "quick"
    if mode not in MODES:
        raise ConfigError(f"mode: got {mode!r}; allowed: one of {', '.join(MODES)}")
    return dict(read_spec("_settings")[mode])


def scaled_lr(lr: float, d_hidden: int, n_features: int, variant: str, reference_width: int) -> float:
    """Learning rate used for width K: lr × min(1, K / reference_width) for superposition students.

    The largest stable SGD step scales like 1/λ_max of the loss Hessian; for the superposition
    student that Hessian is P ⊗ C with P = WWᵀ ≈ (N/K)·I, so λ_max grows like N/K and the step is
    scaled down proportionally below ``reference_width``. Students without superposition use lr.
    """
    if variant == "none" or d_hidden >= reference_width:
        return lr
    return lr * d_hidden / reference_width


@dataclass(frozen=True)
class Reading:
    """A named set of choices the paper leaves unstated (see the module docstring).

    overrides: config fields set on every run (e.g. ``normalize``, ``init_scale``, ``batch``).
    lr_factor: multiplies the mode's base learning rate. fit_offset: fit c·t^-α + L0 (True) or
    c·t^-α (False, L0 pinned to 0).
    """

    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    lr_factor: float = 1.0
    fit_offset: bool = True


STATED = Reading("stated", "Σp_i = 1 as stated in Sec. 2.1; our default lr, batch and init; L0 free")


@dataclass(frozen=True)
class Claim:
    """One row of the claims table."""

    id: str
    figure: str
    statement: str
    paper_value: str
    measured: float | None
    interval: tuple[float, float] | None
    window: str
    verdict: str
    rule: str
    details: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: got {self.verdict!r}; allowed: one of {', '.join(VERDICTS)}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["interval"] = list(self.interval) if self.interval is not None else None
        for k in ("measured",):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        if d["interval"] is not None and not all(math.isfinite(v) for v in d["interval"]):
            d["interval"] = None
        return d


def verdict_by_interval(value: float, interval: tuple[float, float] | None, target: float,
                        tol: float, partly_tol: float) -> str:
    """The standard rule: reproduced if |value − target| ≤ tol or the interval covers [target ± tol]
    overlap; partly if within partly_tol; else not reproduced. NaN → not tested."""
    if value is None or not math.isfinite(value):
        return "not tested"
    lo, hi = interval if interval is not None else (value, value)
    dist = 0.0 if lo <= target <= hi else min(abs(lo - target), abs(hi - target))
    if abs(value - target) <= tol or dist <= tol:
        return "reproduced"
    if abs(value - target) <= partly_tol or dist <= partly_tol:
        return "partly"
    return "not reproduced"


def verdict_at_most(value: float | None, tol: float, partly: float) -> str:
    """The threshold rule on a deviation: reproduced if value ≤ tol, partly if ≤ partly, else not
    reproduced; NaN or None → not tested."""
    if value is None or not math.isfinite(value):
        return "not tested"
    return "reproduced" if value <= tol else "partly" if value <= partly else "not reproduced"


def verdict_at_least(value: float | None, target: float, partly: float) -> str:
    """The threshold rule on a quantity that should be large: reproduced if value ≥ target, partly if
    ≥ partly, else not reproduced; NaN or None → not tested."""
    if value is None or not math.isfinite(value):
        return "not tested"
    return "reproduced" if value >= target else "partly" if value >= partly else "not reproduced"


def rule_at_most(quantity: str, tol: float, partly: float) -> str:
    """The rule of :func:`verdict_at_most` on ``quantity``, as the claims table states it."""
    return f"{quantity}: reproduced if ≤ {tol:g}, partly if ≤ {partly:g}, else not reproduced"


def rule_at_least(quantity: str, target: float, partly: float) -> str:
    """The rule of :func:`verdict_at_least` on ``quantity``, as the claims table states it."""
    return f"{quantity}: reproduced if ≥ {target:g}, partly if ≥ {partly:g}, else not reproduced"


class Experiment:
    """Base class: subclasses set ``name``/``title`` and implement ``analyze`` and ``claims``."""

    name: str = ""
    title: str = ""
    needs_runs: bool = True

    def spec(self) -> dict[str, Any]:
        return read_spec(self.name)

    def analysis(self, mode: str) -> dict[str, Any]:
        """The ``analysis`` table, with ``[<mode>.analysis]`` overriding ``[analysis]``."""
        spec = self.spec()
        out = dict(spec.get("analysis", {}))
        if mode == "readings" and "readings" not in spec:
            mode = "quick"
        out.update(spec.get(mode, {}).get("analysis", {}))
        return out

    def fit_settings(self, mode: str, n_boot: int = 500) -> tuple[dict[str, Any], tuple[float, float], int]:
        """(the analysis table of ``mode``, its ``fit_window``, its ``n_boot`` bootstrap resamples)."""
        an = self.analysis(mode)
        return an, window_of(an), int(an.get("n_boot", n_boot))

    def configs(self, mode: str, reading: Reading = STATED) -> list[RunConfig]:
        """Every run this experiment needs in ``mode`` under ``reading``."""
        if not self.needs_runs:
            return []
        spec = self.spec()
        runs = spec.get(mode)
        if runs is None and mode == "readings":  # reduced grid for the other readings
            runs = spec.get("quick")
        if runs is None:
            raise ConfigError(f"mode: experiment {self.name} has no [{mode}] table")
        common = settings("quick" if mode == "readings" else mode)
        snapshot_times = common.pop("snapshot_times", [])
        base = {**common, **runs.get("base", {}), **reading.overrides}
        # a spec may set its own reference width (e.g. a reduced-N grid: the stable step scales with K/N)
        ref_width = int(base.pop("lr_reference_width", 0))
        grid_spec = {"base": base, "grid": runs.get("grid", {})}
        out = []
        for cfg in expand_grid(grid_spec):
            lr = cfg.train.lr * reading.lr_factor
            if ref_width:
                lr = scaled_lr(lr, cfg.model.d_hidden, cfg.data.n_features, cfg.variant, ref_width)
            snaps = [s for s in snapshot_times if s <= cfg.train.t_max] if not cfg.train.snapshots else \
                list(cfg.train.snapshots)
            out.append(cfg.replace(lr=lr, snapshots=snaps))
        return out

    def analyze(self, runs: Sequence[Any], mode: str, reading: Reading = STATED) -> dict[str, Any]:
        raise NotImplementedError

    def claims(self, result: dict[str, Any]) -> list[Claim]:
        return []
