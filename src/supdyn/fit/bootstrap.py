"""Bootstrap across independent units (seeds / models): a generic percentile bootstrap and the
power-law fit of the seed-averaged loss curve.

Randomness comes only from ``np.random.default_rng(seed)`` created inside each call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from supdyn.fit.powerlaw import PowerLawFit, _fit_points, _json_float, _window_mask


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")


@dataclass(frozen=True, eq=False)
class BootstrapInterval:
    """Percentile bootstrap of a statistic: ``estimate`` on the full sample, ``[lo, hi]`` the
    ``(1-level)/2`` and ``(1+level)/2`` percentiles of the replicates, ``se`` their standard
    deviation.  ``replicates`` has shape ``(n_resamples - n_failed, *stat_shape)``."""

    estimate: float | np.ndarray
    lo: float | np.ndarray
    hi: float | np.ndarray
    se: float | np.ndarray
    level: float
    n_resamples: int
    n_failed: int
    replicates: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        def conv(v: Any) -> Any:
            a = np.asarray(v, dtype=float)
            return _json_float(a) if a.ndim == 0 else [_json_float(x) for x in a.ravel()]
        return {"estimate": conv(self.estimate), "lo": conv(self.lo), "hi": conv(self.hi),
                "se": conv(self.se), "level": float(self.level), "n_resamples": int(self.n_resamples),
                "n_failed": int(self.n_failed)}


def bootstrap_statistic(samples: Any, statistic: Callable[[np.ndarray], Any], *, n_resamples: int = 1000,
                        seed: int = 0, level: float = 0.95) -> BootstrapInterval:
    """Percentile bootstrap of ``statistic(samples)``, resampling the rows (axis 0, the independent
    units, e.g. ``n_models``) with replacement.

    ``statistic`` maps an array shaped like ``samples`` to a float or a fixed-shape array; it may
    return NaN to mark a failed resample (those replicates are dropped and counted in
    ``n_failed``).  Raises ValueError if fewer than 2 rows or every resample fails.
    """
    _check_level(level)
    x = np.asarray(samples)
    if x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(f"bootstrap: need at least 2 independent samples along axis 0, got shape {x.shape}")
    if n_resamples < 1:
        raise ValueError(f"bootstrap: n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_resamples, x.shape[0]))
    est = np.asarray(statistic(x), dtype=float)
    reps = np.stack([np.asarray(statistic(x[i]), dtype=float) for i in idx])
    ok = np.all(np.isfinite(reps.reshape(n_resamples, -1)), axis=1)
    if not ok.any():
        raise ValueError("bootstrap: the statistic failed (NaN) on every resample")
    reps = reps[ok]
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
    se = reps.std(axis=0, ddof=1) if reps.shape[0] > 1 else np.full(est.shape, np.nan)

    def out(v: np.ndarray) -> float | np.ndarray:
        return float(v) if np.ndim(v) == 0 else np.asarray(v)
    return BootstrapInterval(out(est), out(lo), out(hi), out(se), float(level), int(n_resamples),
                             int((~ok).sum()), reps)


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """:func:`bootstrap_fit`: ``fit`` of the mean curve over all models and percentile intervals for
    alpha, c and L0 from fits of resampled mean curves."""

    fit: PowerLawFit
    alpha: BootstrapInterval
    c: BootstrapInterval
    L0: BootstrapInterval
    window: tuple[float, float]
    n_models: int
    level: float
    n_resamples: int
    seed: int

    @property
    def alpha_interval(self) -> tuple[float, float]:
        return (float(self.alpha.lo), float(self.alpha.hi))

    def to_dict(self) -> dict[str, Any]:
        return {"fit": self.fit.to_dict(), "alpha": self.alpha.to_dict(), "c": self.c.to_dict(),
                "L0": self.L0.to_dict(), "window": [float(w) for w in self.window],
                "n_models": int(self.n_models), "level": float(self.level),
                "n_resamples": int(self.n_resamples), "seed": int(self.seed)}


def bootstrap_fit(t: Any, losses: Any, window: tuple[float, float], *, n_resamples: int = 1000, seed: int = 0,
                  offset: bool = True, level: float = 0.95) -> BootstrapResult:
    """Bootstrap over models of the power-law fit (:func:`fit_power_law`) of the mean loss curve.

    ``t``: ``(n_times,)``; ``losses``: ``(n_models, n_times)``, one row per independent model
    (seed).  Each resample draws ``n_models`` rows with replacement, averages them and fits the
    mean curve in ``window``; intervals are percentile intervals at ``level``.
    """
    t = np.asarray(t, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 2 or t.ndim != 1 or losses.shape[1] != t.shape[0]:
        raise ValueError(f"bootstrap_fit: need t (n_times,) and losses (n_models, n_times), "
                         f"got {t.shape} and {losses.shape}")
    mask = _window_mask(t, losses.mean(axis=0), window)
    tw, lw = t[mask], losses[:, mask]
    w = (float(window[0]), float(window[1]))
    if not np.all(np.isfinite(lw) & (lw > 0)):
        raise ValueError(f"bootstrap_fit: every model's loss in window [{w[0]:g}, {w[1]:g}] must be finite and > 0")

    def stat(rows: np.ndarray) -> np.ndarray:
        try:
            f = _fit_points(tw, rows.mean(axis=0), w, offset)
        except (ValueError, np.linalg.LinAlgError):
            return np.full(3, np.nan)
        return np.array([f.alpha, f.c, f.L0])

    b = bootstrap_statistic(lw, stat, n_resamples=n_resamples, seed=seed, level=level)
    parts = [BootstrapInterval(float(b.estimate[k]), float(b.lo[k]), float(b.hi[k]), float(b.se[k]),
                               b.level, b.n_resamples, b.n_failed, b.replicates[:, k]) for k in range(3)]
    full = _fit_points(tw, lw.mean(axis=0), w, offset)
    return BootstrapResult(full, *parts, w, int(losses.shape[0]), float(level), int(n_resamples), int(seed))


__all__ = ["BootstrapInterval", "BootstrapResult", "bootstrap_fit", "bootstrap_statistic"]
