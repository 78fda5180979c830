"""Power-law fits of one loss curve: the mid-training form (paper eq. 9), local exponents, window
scans and speed-up measures.

Every function takes plain arrays ``t`` and ``loss`` of shape ``(n_times,)``; nothing here knows
about models, runs or the store.  Logarithms are natural unless stated otherwise; windows and
smoothing widths are given in ``t`` units and in decades (log10) respectively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

MIN_POINTS = 5
# L0 start values, as fractions of the smallest loss in the window (grid for the robust start)
_L0_GRID = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
_EXP_CLIP = 700.0


def _json_float(x: Any) -> Any:
    """A float for JSON (non-finite -> None)."""
    x = float(x)
    return x if math.isfinite(x) else None


def as_curve(t: Any, loss: Any) -> tuple[np.ndarray, np.ndarray]:
    """``t`` and ``loss`` as 1-D float64 arrays of the same shape (ValueError otherwise)."""
    t = np.asarray(t, dtype=float)
    loss = np.asarray(loss, dtype=float)
    if t.shape != loss.shape:
        raise ValueError(f"t and loss have different shapes: {t.shape} vs {loss.shape}")
    if t.ndim != 1:
        raise ValueError(f"t and loss must be 1-D arrays (n_times,), got shape {t.shape}")
    return t, loss


@dataclass(frozen=True, eq=False)
class PowerLawFit:
    """Result of :func:`fit_power_law`: ``L(t) = c * t**-alpha + L0`` on ``window``.

    ``*_se`` are standard errors from the Jacobian at the optimum (``cov = s² (JᵀJ)⁻¹``,
    ``s² = RSS / (n_points - n_params)``), propagated to ``c`` by the delta method.
    ``residuals`` are ``log L_data - log L_model`` at the window's points (in input order).

    The fit is made in log space around the reference time ``t_ref`` (the geometric mean of the
    window's t): ``L(t) = c_ref (t/t_ref)^-alpha + L0``, so ``c = c_ref t_ref^alpha``.  On a late, steep
    window c can exceed float64 (e.g. alpha = 60 at t ~ 1e7: c ~ 1e400); then ``c`` is ``inf`` (``None``
    in ``to_dict``), ``log_c`` holds its natural log, and :meth:`predict` uses ``c_ref``.
    """

    alpha: float
    alpha_se: float
    c: float
    c_se: float
    L0: float
    L0_se: float
    residuals: np.ndarray
    window: tuple[float, float]
    n_points: int
    offset: bool
    L0_at_bound: bool = False
    cov: np.ndarray = field(default_factory=lambda: np.full((3, 3), np.nan))  # (c, alpha, L0)
    c_ref: float = math.nan
    t_ref: float = 1.0

    @property
    def log_c(self) -> float:
        """``ln c = ln c_ref + alpha ln t_ref`` (finite where ``c`` overflows)."""
        return math.log(self.c_ref) + self.alpha * math.log(self.t_ref) if self.c_ref > 0 else math.log(self.c)

    @property
    def dof(self) -> int:
        """Residual degrees of freedom ``n_points - n_params``."""
        return self.n_points - (3 if self.offset else 2)

    @property
    def rss(self) -> float:
        """Residual sum of squares in log space."""
        return float(self.residuals @ self.residuals)

    def predict(self, t: Any) -> np.ndarray:
        """``c * t**-alpha + L0`` at ``t`` (computed as ``c_ref (t/t_ref)^-alpha + L0``)."""
        t = np.asarray(t, dtype=float)
        if math.isfinite(self.c_ref):
            return self.c_ref * (t / self.t_ref) ** -self.alpha + self.L0
        return self.c * t**-self.alpha + self.L0

    def interval(self, name: str = "alpha", level: float = 0.95) -> tuple[float, float]:
        """Two-sided Student-t interval ``value ± t_{dof}(level) * se`` for alpha, c or L0."""
        if name not in ("alpha", "c", "L0"):
            raise ValueError(f"interval: unknown parameter {name!r}; allowed: alpha, c, L0")
        q = float(stats.t.ppf(0.5 + level / 2, self.dof))
        v, se = getattr(self, name), getattr(self, name + "_se")
        return (v - q * se, v + q * se)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (non-finite numbers become None)."""
        return {"alpha": _json_float(self.alpha), "alpha_se": _json_float(self.alpha_se),
                "c": _json_float(self.c), "c_se": _json_float(self.c_se),
                "L0": _json_float(self.L0), "L0_se": _json_float(self.L0_se),
                "L0_at_bound": bool(self.L0_at_bound), "offset": bool(self.offset),
                "c_ref": _json_float(self.c_ref), "t_ref": _json_float(self.t_ref),
                "window": [float(self.window[0]), float(self.window[1])],
                "n_points": int(self.n_points), "rss": _json_float(self.rss),
                "residuals": [_json_float(r) for r in self.residuals]}


def _window_mask(t: np.ndarray, loss: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Boolean mask of the window's points, with the checks of :func:`fit_power_law`."""
    try:
        lo, hi = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window: got {window!r}; allowed: two numbers (lo, hi)") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"window: got [{lo:g}, {hi:g}]; allowed: finite lo < hi")
    tf = t[np.isfinite(t)]
    if tf.size == 0 or hi < tf.min() or lo > tf.max():
        rng = f"[{tf.min():g}, {tf.max():g}]" if tf.size else "(no finite t)"
        raise ValueError(f"window: got [{lo:g}, {hi:g}], which does not overlap the data range {rng}; allowed: a "
                         f"window inside the data range with at least {MIN_POINTS} points")
    mask = (t >= lo) & (t <= hi)
    n = int(mask.sum())
    if n < MIN_POINTS:
        raise ValueError(f"window: got [{lo:g}, {hi:g}], which holds only {n} point(s); allowed: a window with at "
                         f"least {MIN_POINTS} points")
    if np.any(t[mask] <= 0):
        raise ValueError(f"window: got [{lo:g}, {hi:g}], which contains t <= 0; allowed: a window of t > 0 (a power "
                         "law)")
    lw = loss[mask]
    bad_nf, bad_np = int((~np.isfinite(lw)).sum()), int((lw <= 0).sum())
    if bad_nf or bad_np:
        raise ValueError(f"loss: got {bad_nf} non-finite and {bad_np} non-positive value(s) in the window "
                         f"[{lo:g}, {hi:g}]; allowed: finite loss > 0 (a power-law fit)")
    if np.unique(t[mask]).size < 3:
        raise ValueError(f"window: got [{lo:g}, {hi:g}], which holds fewer than 3 distinct t values; allowed: a "
                         "window with at least 3")
    return mask


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``y = a + b (x - mean x)``: returns (a, b, cov of (a, b), residuals)."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    a, b = float(y.mean()), float(xc @ (y - y.mean()) / sxx)
    resid = y - (a + b * xc)
    s2 = float(resid @ resid) / max(x.size - 2, 1)
    return a, b, np.diag([s2 / x.size, s2 / sxx]), resid


def _cov_from_jac(jac: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """``s² (JᵀJ)⁻¹`` through the SVD of J; all-inf if J is rank deficient."""
    n, p = jac.shape
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    if sv[0] == 0 or sv[-1] <= np.finfo(float).eps * max(n, p) * sv[0]:
        return np.full((p, p), np.inf)
    s2 = float(resid @ resid) / (n - p)
    return (vt.T / sv**2) @ vt * s2


def _amplitude(log_c_ref: float, alpha: float, xr: float) -> float:
    """``c = exp(ln c_ref + alpha xr)``; ``inf`` where it exceeds float64 (no OverflowError)."""
    with np.errstate(over="ignore"):
        return float(np.exp(log_c_ref + alpha * xr))


def _to_c(cov_ref: np.ndarray, c_ref: float, c: float, alpha: float, xr: float) -> np.ndarray:
    """The covariance of (c, alpha, L0) from that of (ln c_ref, alpha, L0) (delta method); the c row and
    column are inf where c overflows."""
    if not math.isfinite(c):
        out = np.array(cov_ref, dtype=float)
        out[0, :] = out[:, 0] = math.inf
        return out
    g = np.array([[c, c * xr, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # d(c, alpha, L0)/d(ln c_ref, alpha, L0)
    with np.errstate(invalid="ignore", over="ignore"):
        return g @ cov_ref @ g.T


def _fit_points(t: np.ndarray, loss: np.ndarray, window: tuple[float, float], offset: bool) -> PowerLawFit:
    """Fit on already validated points (all t > 0, loss > 0, at least 5 of them)."""
    x, y = np.log(t), np.log(loss)
    xr = float(x.mean())
    dx = x - xr
    if not offset:
        a, b, cov_ab, resid = _ols(x, y)  # a = ln c_ref at t_ref = exp(xr)
        alpha = -b
        c = _amplitude(a, alpha, xr)
        cov_ref = np.zeros((3, 3))
        cov_ref[:2, :2] = np.array([[1.0, 0.0], [0.0, -1.0]]) @ cov_ab @ np.array([[1.0, 0.0], [0.0, -1.0]])
        cov = _to_c(cov_ref, math.exp(a), c, alpha, xr)
        cov[2, :] = cov[:, 2] = 0.0
        return PowerLawFit(alpha, math.sqrt(cov_ref[1, 1]), c, math.sqrt(cov[0, 0]), 0.0, 0.0, resid,
                           window, int(x.size), False, False, cov, math.exp(a), math.exp(xr))

    scale = float(loss.min())  # L0 = scale * u, so u is of order one

    def parts(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pw = np.exp(np.clip(p[0] - p[1] * dx, -_EXP_CLIP, _EXP_CLIP))
        return pw, pw + scale * p[2]

    def fun(p: np.ndarray) -> np.ndarray:
        return np.log(parts(p)[1]) - y

    def jac(p: np.ndarray) -> np.ndarray:
        pw, m = parts(p)
        return np.column_stack([pw / m, -dx * pw / m, scale / m])

    best = None
    for f in _L0_GRID:  # robust start: log-log slope of L - f * L_min, keep the smallest RSS
        a, b, _, _ = _ols(x, np.log(loss - f * scale))
        p0 = np.array([a, -b, f])
        r = fun(p0)
        rss = float(r @ r)
        if best is None or rss < best[0]:
            best = (rss, p0)
    with np.errstate(over="ignore", under="ignore"):
        sol = optimize.least_squares(fun, best[1], jac=jac, bounds=([-np.inf, -np.inf, 0.0], np.inf),
                                     method="trf", ftol=1e-13, xtol=1e-13, gtol=1e-13, max_nfev=2000)
    p = sol.x
    resid = -fun(p)  # data - model
    cov_p = _cov_from_jac(jac(p), resid)
    alpha, L0 = float(p[1]), float(scale * p[2])
    c = _amplitude(float(p[0]), alpha, xr)
    if np.all(np.isfinite(cov_p)):
        s = np.diag([1.0, 1.0, scale])  # (ln c_ref, alpha, u) -> (ln c_ref, alpha, L0)
        cov = _to_c(s @ cov_p @ s, math.exp(p[0]), c, alpha, xr)
    else:
        cov = np.full((3, 3), np.inf)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return PowerLawFit(alpha, float(se[1]), c, float(se[0]), L0, float(se[2]), resid, window,
                       int(x.size), True, bool(p[2] <= 1e-9), cov, math.exp(p[0]), math.exp(xr))


def fit_power_law(t: Any, loss: Any, window: tuple[float, float] = (1e3, 1e4), *,
                  offset: bool = True) -> PowerLawFit:
    """Fit ``L(t) = c t^-α + L0`` (the mid-training form of paper eq. 9) on ``window[0] <= t <= window[1]``.

    With ``offset`` the fit is nonlinear least squares of ``log L`` against ``log(c t^-α + L0)``
    (``scipy.optimize.least_squares``, bound ``L0 >= 0``), started from the best of a log-log
    line fit of ``L - f·L_min`` for a small grid of ``f`` in [0, 0.99].  Without ``offset`` it is
    the ordinary least-squares slope of ``log L`` against ``log t`` (``L0 = L0_se = 0``).
    Standard errors: ``cov = s² (JᵀJ)⁻¹`` with ``s² = RSS / (n - p)``.

    Raises ValueError (one line) for: t/loss of different shapes, ``lo >= hi``, a window that
    does not overlap the data, fewer than 5 points in the window, t <= 0 or non-finite or
    non-positive loss in the window.
    """
    t, loss = as_curve(t, loss)
    mask = _window_mask(t, loss, window)
    return _fit_points(t[mask], loss[mask], (float(window[0]), float(window[1])), bool(offset))


def local_exponent(t: Any, loss: Any, L0: float = 0.0, *, smooth: float = 0.2) -> np.ndarray:
    """Local exponent ``α(t) = -d log(L - L0) / d log t`` on the curve's own grid, shape ``(n_times,)``.

    Smoothing: at each point, the slope of a straight-line least-squares fit of ``log(L - L0)``
    against ``log t`` over the neighbours within ``smooth`` decades in total (``±smooth/2``
    decades in log10 t, truncated one-sided at the curve's ends).  On a uniform log-t grid this is
    the Savitzky–Golay derivative of order 1 (equivalently 2 for a centred window); it is exact
    for a pure power law.  ``smooth=0`` uses the nearest neighbour on each side (centred finite
    difference).  NaN where undefined: t <= 0, non-finite L, L <= L0, or fewer than 2 usable
    points (distinct t) in the window.
    """
    t, loss = as_curve(t, loss)
    out = np.full(t.shape, np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(t) & (t > 0) & np.isfinite(loss) & (loss > L0)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return out
    order = idx[np.argsort(t[idx], kind="stable")]
    x = np.log(t[order])
    y = np.log(loss[order] - L0)
    if smooth > 0:
        half = 0.5 * smooth * math.log(10.0)
        los = np.searchsorted(x, x - half * (1 + 1e-12), side="left")
        his = np.searchsorted(x, x + half * (1 + 1e-12), side="right")
    else:
        los = np.maximum(np.arange(x.size) - 1, 0)
        his = np.minimum(np.arange(x.size) + 2, x.size)
    slopes = np.full(x.size, np.nan)
    for i, (a, b) in enumerate(zip(los, his)):
        xs = x[a:b] - x[a:b].mean()
        sxx = float(xs @ xs)
        if b - a >= 2 and sxx > 0:
            slopes[i] = -float(xs @ y[a:b]) / sxx
    out[order] = slopes
    return out


def window_scan(t: Any, loss: Any, *, width_decades: float = 1.0, per_decade: int = 4,
                offset: bool = True) -> dict[str, np.ndarray]:
    """Fit :func:`fit_power_law` in sliding windows ``[t_lo, t_lo·10^width_decades]``.

    Window starts are ``log10 t_lo = log10 t_min + k / per_decade`` (t_min the smallest t > 0)
    while the window stays within the data.  Windows with fewer than 5 points, or whose fit is
    undefined (non-positive/non-finite loss inside), are skipped.  Returns arrays ``t_lo, t_hi,
    alpha, alpha_se, c, c_se, L0, L0_se, n_points`` (one entry per fitted window; empty if the
    curve spans less than ``width_decades``).
    """
    t, loss = as_curve(t, loss)
    if width_decades <= 0 or per_decade <= 0:
        raise ValueError("window_scan: width_decades and per_decade must be > 0")
    keys = ("t_lo", "t_hi", "alpha", "alpha_se", "c", "c_se", "L0", "L0_se", "n_points")
    rows: dict[str, list[float]] = {k: [] for k in keys}
    pos = np.isfinite(t) & (t > 0)
    if pos.sum() >= MIN_POINTS:
        lt = np.full(t.shape, -np.inf)
        lt[pos] = np.log10(t[pos])
        s0, s1 = float(lt[pos].min()), float(lt[pos].max())
        n_win = int(math.floor((s1 - s0 - width_decades) * per_decade + 1e-9)) + 1
        for k in range(max(n_win, 0)):
            s = s0 + k / per_decade
            mask = pos & (lt >= s - 1e-12) & (lt <= s + width_decades + 1e-12)
            lw = loss[mask]
            if mask.sum() < MIN_POINTS or not np.all(np.isfinite(lw) & (lw > 0)):
                continue
            if np.unique(t[mask]).size < 3:
                continue
            w = (10.0**s, 10.0 ** (s + width_decades))
            f = _fit_points(t[mask], lw, w, offset)
            for k2, v in zip(keys, (*w, f.alpha, f.alpha_se, f.c, f.c_se, f.L0, f.L0_se, f.n_points)):
                rows[k2].append(v)
    out = {k: np.asarray(v, dtype=float) for k, v in rows.items()}
    out["n_points"] = out["n_points"].astype(int)
    return out


def _positive_sorted(t: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(t) & (t > 0) & np.isfinite(loss) & (loss > 0)
    o = np.argsort(t[ok], kind="stable")
    return t[ok][o], loss[ok][o]


def time_to_loss(t: Any, loss: Any, target: float) -> float:
    """First time the curve reaches ``loss <= target``, interpolated linearly in log–log between the
    last point above and the first point at or below the target.  ``t[0]`` if the curve starts at
    or below it; NaN if never reached.  Points with t <= 0 or non-finite/non-positive loss are
    ignored."""
    t, loss = as_curve(t, loss)
    target = float(target)
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"time_to_loss: target must be a finite loss > 0, got {target:g}")
    ts, ls = _positive_sorted(t, loss)
    hit = np.flatnonzero(ls <= target)
    if hit.size == 0:
        return float("nan")
    i = int(hit[0])
    if i == 0:
        return float(ts[0])
    x0, x1, y0, y1 = np.log(ts[i - 1]), np.log(ts[i]), np.log(ls[i - 1]), np.log(ls[i])
    frac = (math.log(target) - y0) / (y1 - y0)
    return float(math.exp(x0 + frac * (x1 - x0)))


def speedup(t1: Any, loss1: Any, t2: Any, loss2: Any, target: float) -> float:
    """``T1 / T2``, the ratio of the times at which curve 1 and curve 2 first reach ``target``
    (:func:`time_to_loss`); > 1 means curve 2 gets there faster.  NaN if either never does."""
    return time_to_loss(t1, loss1, target) / time_to_loss(t2, loss2, target)


def _loglog_interp(t: np.ndarray, loss: np.ndarray, at: np.ndarray) -> np.ndarray:
    ts, ls = _positive_sorted(t, loss)
    out = np.full(at.shape, np.nan)
    inside = (at >= ts[0]) & (at <= ts[-1]) if ts.size else np.zeros(at.shape, bool)
    out[inside] = np.exp(np.interp(np.log(at[inside]), np.log(ts), np.log(ls)))
    return out


def loss_ratio(t1: Any, loss1: Any, t2: Any, loss2: Any, at: Any) -> float | np.ndarray:
    """``L1(at) / L2(at)`` with each loss interpolated linearly in log–log; NaN outside a curve's
    t range.  ``at`` may be a scalar (returns a float) or an array."""
    a = np.asarray(at, dtype=float)
    r = _loglog_interp(*as_curve(t1, loss1), a.reshape(-1)) / _loglog_interp(*as_curve(t2, loss2), a.reshape(-1))
    return float(r[0]) if a.ndim == 0 else r.reshape(a.shape)
