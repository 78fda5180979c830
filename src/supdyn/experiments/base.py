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
→ rows of the claims table (the paper's claims, ``kind="claim"``) and of the checks table (our own
consistency checks, ``kind="check"``), each with the paper's value, ours, its interval and what that
interval is, the rule (:mod:`supdyn.experiments.rules`), the verdict and the reasons.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Sequence

from supdyn.config import ConfigError, RunConfig, expand_grid
from supdyn.experiments.common import window_of
from supdyn.experiments.rules import NO_INTERVAL, Decision, word

MODES = ("smoke", "quick", "full")
#: verdicts of the paper's claims
CLAIM_VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not tested")
#: outcomes of our own consistency checks
CHECK_VERDICTS = ("passed", "failed", "inconclusive", "not tested")
VERDICTS = CLAIM_VERDICTS + ("passed", "failed")
KINDS = ("claim", "check")


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
    """One row of the claims table (``kind`` "claim": the paper's) or of the checks table ("check": ours).

    measured/interval: the statistic the rule decides on and its two-sided interval (the interval's
    level and method in ``interval_kind``, e.g. "CI 95% over seeds", "envelope of per-point CIs",
    "none: deterministic theory"); verdict: a word of :data:`CLAIM_VERDICTS` (claims) or
    :data:`CHECK_VERDICTS` (checks), decided by the written ``rule``; reasons: why, in plain
    sentences with the numbers; details: every per-point number.
    """

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
    kind: str = "claim"
    interval_kind: str = NO_INTERVAL
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: got {self.kind!r}; allowed: one of {', '.join(KINDS)}")
        allowed = CLAIM_VERDICTS if self.kind == "claim" else CHECK_VERDICTS
        if self.verdict not in allowed:
            raise ValueError(f"verdict: got {self.verdict!r} for a {self.kind}; allowed: one of {', '.join(allowed)}")
        if isinstance(self.reasons, str):
            object.__setattr__(self, "reasons", (self.reasons,))

    @classmethod
    def decided(cls, id: str, figure: str, statement: str, paper_value: str, measured: float | None,
                interval: tuple[float, float] | None, window: str, decision: Decision, rule: str,
                details: str = "", *, kind: str = "claim", interval_kind: str = NO_INTERVAL,
                reasons: Sequence[str] = ()) -> "Claim":
        """A row whose verdict is ``decision``'s outcome in the words of ``kind``, its reason first."""
        return cls(id, figure, statement, paper_value, measured, interval, window, word(kind, decision.outcome),
                   rule, details, kind, interval_kind, (decision.reason, *reasons))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["interval"] = list(self.interval) if self.interval is not None else None
        d["reasons"] = list(self.reasons)
        for k in ("measured",):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        if d["interval"] is not None and not all(math.isfinite(v) for v in d["interval"]):
            d["interval"] = None
        return d


class Experiment:
    """Base class: subclasses set ``name``/``title`` and implement ``analyze`` and ``claims``."""

    name: str = ""
    title: str = ""
    needs_runs: bool = True
    #: its analysis accepts a subset of its runs (``supdyn reproduce --stored-only``: an interim look)
    partial_ok: bool = False

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
