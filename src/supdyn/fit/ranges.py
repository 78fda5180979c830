"""Plateau, local exponent above it, and the longest range of constant exponent (issue 18's analysis).

For a loss curve L(t) (t = lr × steps) that ends on a plateau L∞ (the width plateau of a superposition
student), the mid-training exponent is the local exponent of the excess loss,

    α(t) = −d log(L − L∞) / d log t,

with L∞ estimated from the late curve, *not* fitted together with α. Three steps, each a pure function
of arrays:

* :func:`late_plateau` — L∞ = the mean loss over the last ``decades`` of t, accepted as a plateau only
  when the curve is flat there: its own local slope −d log L / d log t, averaged over that span, is at
  most ``flat_tol``. Otherwise the plateau is not reached and 0 ≤ L∞ ≤ L(t_end) is all that is known;
  ``plateau_or_zero`` then uses L∞ = 0, and since −t L'/(L − c) grows with c for a decreasing L, every
  exponent computed with L∞ = 0 is a **lower bound** on the one above the true plateau.
* :func:`local_exponent` (from :mod:`supdyn.fit.powerlaw`) of L − L∞, restricted to the points where the
  excess L − L∞ is at least ``min_excess`` × L∞ (where the plateau's own uncertainty is small against it).
* :func:`longest_range` — the longest contiguous range in log t where the local exponent stays within
  ± ``tol`` of one value (max − min ≤ 2·tol), its value being the mean of α over the range (uniform in
  log t), kept only if it spans at least ``min_decades`` decades.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from supdyn.fit.powerlaw import as_curve, local_exponent


@dataclass(frozen=True)
class PlateauEstimate:
    """L∞ from the late curve: ``value`` (mean loss over [t_lo, t_hi], the last ``decades`` of t),
    ``late_slope`` (mean of −d log L/d log t there) and ``reached`` (late_slope ≤ the flatness tolerance)."""

    value: float
    late_slope: float
    reached: bool
    t_lo: float
    t_hi: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def late_plateau(t: Any, loss: Any, *, decades: float = 0.3, flat_tol: float = 0.02,
                 smooth: float = 0.3) -> PlateauEstimate:
    """The plateau of the late curve (see the module docstring). ``loss`` of shape (n_times,).

    Raises ValueError when fewer than 2 points with t > 0 and a finite positive loss lie in the span."""
    t, loss = as_curve(t, loss)
    if not decades > 0:
        raise ValueError(f"decades: got {decades!r}; allowed: > 0")
    ok = np.isfinite(t) & (t > 0) & np.isfinite(loss) & (loss > 0)
    if ok.sum() < 2:
        raise ValueError("late_plateau: fewer than 2 points with t > 0 and a finite positive loss")
    tt, ll = t[ok], loss[ok]
    t_hi = float(tt.max())
    sel = tt >= t_hi * 10.0 ** (-decades) * (1 - 1e-12)
    if sel.sum() < 2:
        raise ValueError(f"late_plateau: fewer than 2 points in the last {decades:g} decades of t")
    slope = local_exponent(tt, ll, 0.0, smooth=smooth)[sel]
    late = float(np.nanmean(slope)) if np.isfinite(slope).any() else float("nan")
    return PlateauEstimate(float(ll[sel].mean()), late, bool(math.isfinite(late) and late <= flat_tol),
                           float(tt[sel].min()), t_hi, int(sel.sum()))


def excess_exponent(t: Any, loss: Any, l_inf: float, *, smooth: float = 0.3, min_excess: float = 0.5
                    ) -> np.ndarray:
    """−d log(L − l_inf)/d log t on the curve's grid, NaN where t ≤ 0 or L − l_inf < min_excess · l_inf
    (the excess too small against the plateau to be measured)."""
    t, loss = as_curve(t, loss)
    alpha = local_exponent(t, loss, l_inf, smooth=smooth)
    with np.errstate(invalid="ignore"):
        alpha[~(loss - l_inf >= min_excess * l_inf)] = np.nan
    return alpha


@dataclass(frozen=True)
class ExponentRange:
    """A range [t_lo, t_hi] (``decades`` = log10 t_hi/t_lo) where the local exponent stays within
    ± tol of its mid value; ``value`` its mean over the range (uniform in log t), ``lo``/``hi`` its
    extremes there, ``n_points`` the grid points inside."""

    t_lo: float
    t_hi: float
    decades: float
    value: float
    lo: float
    hi: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def longest_range(t: Any, alpha: Any, *, tol: float = 0.1, min_decades: float = 1.0) -> ExponentRange | None:
    """The longest range in log t (contiguous finite points, sorted by t > 0) on which max α − min α ≤
    2·tol, or None if the longest spans fewer than ``min_decades`` decades. Ties: the earliest. O(n log n)
    two-pointer sweep with monotone deques."""
    from collections import deque

    t, alpha = as_curve(t, alpha)
    if tol < 0 or min_decades < 0:
        raise ValueError(f"tol, min_decades: got {tol!r}, {min_decades!r}; allowed: >= 0")
    pos = np.isfinite(t) & (t > 0)
    order = np.argsort(t[pos], kind="stable")
    x = np.log10(t[pos][order])
    a = alpha[pos][order]
    best: tuple[float, int, int] | None = None
    i = 0
    while i < x.size:  # each maximal run of finite values separately
        if not math.isfinite(a[i]):
            i += 1
            continue
        j = i
        while j + 1 < x.size and math.isfinite(a[j + 1]):
            j += 1
        lo_q: deque[int] = deque()
        hi_q: deque[int] = deque()
        left = i
        for r in range(i, j + 1):
            while lo_q and a[lo_q[-1]] >= a[r]:
                lo_q.pop()
            lo_q.append(r)
            while hi_q and a[hi_q[-1]] <= a[r]:
                hi_q.pop()
            hi_q.append(r)
            while a[hi_q[0]] - a[lo_q[0]] > 2 * tol + 1e-12:
                left += 1
                if lo_q[0] < left:
                    lo_q.popleft()
                if hi_q[0] < left:
                    hi_q.popleft()
            span = x[r] - x[left]
            if best is None or span > best[0] + 1e-12:
                best = (span, left, r)
        i = j + 1
    if best is None or best[0] < min_decades - 1e-9:
        return None
    span, s, e = best
    seg_x, seg_a = x[s:e + 1], a[s:e + 1]
    value = _trap_mean(seg_x, seg_a) if span > 0 else float(seg_a[0])
    return ExponentRange(float(10 ** seg_x[0]), float(10 ** seg_x[-1]), float(span), value,
                         float(seg_a.min()), float(seg_a.max()), int(e - s + 1))


def _trap_mean(x: np.ndarray, a: np.ndarray) -> float:
    """Mean of a over x by the trapezoid rule (x increasing, x[-1] > x[0])."""
    return float(np.sum(0.5 * (a[1:] + a[:-1]) * np.diff(x)) / (x[-1] - x[0]))


def mean_over(t: Any, alpha: Any, t_lo: float, t_hi: float) -> float:
    """Mean of α over [t_lo, t_hi] uniform in log t (trapezoid on the grid); NaN if any point there is
    not finite or fewer than 2 points lie inside."""
    t, alpha = as_curve(t, alpha)
    sel = (t >= t_lo * (1 - 1e-9)) & (t <= t_hi * (1 + 1e-9)) & (t > 0)
    if sel.sum() < 2 or not np.all(np.isfinite(alpha[sel])):
        return float("nan")
    o = np.argsort(t[sel])
    x, a = np.log10(t[sel][o]), alpha[sel][o]
    return _trap_mean(x, a)


__all__ = ["ExponentRange", "PlateauEstimate", "excess_exponent", "late_plateau", "longest_range", "mean_over"]
