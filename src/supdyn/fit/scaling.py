"""Scaling across model sizes: the compute-optimal frontier (paper Sec. 4, Figs. 7 and 14),
iso-compute curves, and the width-limited plateau ``L_∞(K) = c K^-β`` (paper App. A.4, Fig. 13).

``curves`` everywhere is either a mapping ``K -> (t, loss)`` or a sequence of ``(K, t, loss)``;
``loss`` is ``(n_times,)`` or ``(n_models, n_times)`` (rows = seeds, averaged for the envelope).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
from scipy import stats

from supdyn.fit.bootstrap import _check_level
from supdyn.fit.powerlaw import _json_float, as_curve

Cost = Callable[[np.ndarray, float], np.ndarray]


def default_cost(t: np.ndarray, K: float) -> np.ndarray:
    """Compute ``C = t · K²`` (paper Sec. 4: the student matrix has K² parameters)."""
    return np.asarray(t, dtype=float) * float(K) ** 2


def _read_curves(curves: Any, cost: Cost | None) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(K, log C, loss rows (n_models, n_times)) sorted by K; drops t <= 0 and non-finite C."""
    items = list(curves.items()) if isinstance(curves, Mapping) else [(k, (t, l)) for k, t, l in curves]
    cost = cost or default_cost
    out = []
    for K, (t, loss) in items:
        t = np.asarray(t, dtype=float)
        rows = np.atleast_2d(np.asarray(loss, dtype=float))
        if rows.ndim != 2 or t.ndim != 1 or rows.shape[1] != t.shape[0]:
            raise ValueError(f"curve K={K}: need t (n_times,) and loss (n_times,) or (n_models, n_times), "
                             f"got {t.shape} and {np.shape(loss)}")
        C = np.asarray(cost(t, K), dtype=float)
        ok = np.isfinite(t) & (t > 0) & np.isfinite(C) & (C > 0)
        o = np.argsort(t[ok], kind="stable")
        logC = np.log(C[ok][o])
        if logC.size < 2:
            raise ValueError(f"curve K={K}: fewer than 2 points with t > 0")
        if np.any(np.diff(logC) <= 0):
            raise ValueError(f"curve K={K}: cost must increase strictly with t")
        out.append((float(K), logC, rows[:, ok][:, o]))
    if len({k for k, _, _ in out}) != len(out) or len(out) < 3:
        raise ValueError(f"frontier: need at least 3 curves with distinct K, got {[k for k, _, _ in out]}")
    return sorted(out, key=lambda c: c[0])


def _log_loss_grid(parsed: list, logC: np.ndarray, rows: list[np.ndarray] | None = None) -> np.ndarray:
    """log of the (mean) loss of each curve at ``logC``, shape ``(n_C, n_K)``; NaN outside a curve's
    range.  The interpolation is linear in log C – log L over the curve's valid points."""
    out = np.full((logC.size, len(parsed)), np.nan)
    for j, (_, lc, r) in enumerate(parsed):
        m = (r if rows is None else rows[j]).mean(axis=0)
        ok = np.isfinite(m) & (m > 0)
        if ok.sum() < 2:
            continue
        x = lc[ok]
        inside = (logC >= x[0]) & (logC <= x[-1])
        out[inside, j] = np.interp(logC[inside], x, np.log(m[ok]))
    return out


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Abscissa of the vertex of the parabola through three points per row (x, y: (n, 3))."""
    d10, d12 = x[:, 1] - x[:, 0], x[:, 1] - x[:, 2]
    e10, e12 = y[:, 1] - y[:, 2], y[:, 1] - y[:, 0]
    num = d10**2 * e10 - d12**2 * e12
    den = d10 * e10 - d12 * e12
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, x[:, 1], x[:, 1] - 0.5 * num / safe)


def _optimum(logK: np.ndarray, logL: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of the discrete argmin or -1, interior mask, continuous log K_opt) per C row."""
    filled = np.where(np.isfinite(logL), logL, np.inf)
    j = np.argmin(filled, axis=1)
    has = np.isfinite(filled[np.arange(j.size), j])
    j = np.where(has, j, -1)
    nk = logK.size
    jj = np.clip(j, 1, nk - 2)
    rows = np.arange(j.size)
    nb = filled[rows[:, None], jj[:, None] + np.array([-1, 0, 1])]
    interior = has & (j > 0) & (j < nk - 1) & np.all(np.isfinite(nb), axis=1)
    xk = logK[jj[:, None] + np.array([-1, 0, 1])]
    with np.errstate(invalid="ignore"):
        v = _parabola_vertex(xk, np.where(np.isfinite(nb), nb, 0.0))
    return j, interior, np.where(interior, v, np.nan)


def _slope_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """OLS ``y = a + g x``: (g, a, se of g); se NaN for fewer than 3 points."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    g = float(xc @ (y - y.mean()) / sxx)
    a = float(y.mean() - g * x.mean())
    r = y - a - g * x
    se = math.sqrt(float(r @ r) / (x.size - 2) / sxx) if x.size > 2 else float("nan")
    return g, a, se


@dataclass(frozen=True, eq=False)
class Frontier:
    """Compute-optimal frontier on a log-spaced grid of ``n_grid`` compute values.

    ``L_star``: envelope ``min_K L(C, K)``; ``K_star``: the discrete argmin K; ``K_opt``:
    continuous optimum from the parabola in log K through the iso-compute minimum and its two
    neighbours (NaN where the argmin is at the edge of the K grid or a neighbour has no data);
    ``gamma``: slope of ``log K_opt`` against ``log C`` over those interior points
    (``K_opt ≈ k0 · C^gamma``) with ``[gamma_lo, gamma_hi]`` at ``level`` by ``gamma_method``.
    """

    C: np.ndarray
    L_star: np.ndarray
    K_star: np.ndarray
    K_opt: np.ndarray
    interior: np.ndarray
    K: np.ndarray
    gamma: float
    gamma_se: float
    gamma_lo: float
    gamma_hi: float
    gamma_method: str
    k0: float
    level: float
    n_fit: int
    n_eff: int

    def to_dict(self) -> dict[str, Any]:
        def arr(a: np.ndarray) -> list:
            return [_json_float(v) for v in a]
        return {"gamma": _json_float(self.gamma), "gamma_se": _json_float(self.gamma_se),
                "gamma_interval": [_json_float(self.gamma_lo), _json_float(self.gamma_hi)],
                "gamma_method": self.gamma_method, "k0": _json_float(self.k0), "level": self.level,
                "n_fit": self.n_fit, "n_eff": self.n_eff, "K": arr(self.K), "C": arr(self.C),
                "L_star": arr(self.L_star), "K_star": arr(self.K_star), "K_opt": arr(self.K_opt),
                "interior": [bool(b) for b in self.interior]}


def compute_frontier(curves: Any, *, cost: Cost | None = None, n_grid: int = 200, n_resamples: int = 0,
                     seed: int = 0, level: float = 0.95) -> Frontier:
    """Compute-optimal frontier of a family of loss curves (paper Figs. 7a and 14).

    ``C = cost(t, K)`` (default ``t · K²``).  On ``n_grid`` log-spaced C values spanning all curves,
    each curve's loss is interpolated linearly in log–log (no extrapolation); the envelope is
    ``L*(C) = min_K L(C, K)``.  Because K is discrete, the argmin is a step function; the
    continuous ``K_opt(C)`` is the vertex of the parabola in ``log K`` through ``log L`` at the
    discrete minimum and its two neighbouring K.  ``gamma`` is the least-squares slope of
    ``log K_opt`` on ``log C`` over the C points whose minimum is interior (not at either end of
    the K grid, both neighbours defined).

    Interval for gamma: with ``n_resamples > 0`` and every loss of shape ``(n_models, n_times)``
    with ``n_models >= 2``: percentile bootstrap, resampling the models of each K independently
    (``gamma_method = "bootstrap"``).  Otherwise ``"regression"``: the OLS standard error over the
    grid points, which are not independent (the grid is dense), is rescaled to ``n_eff`` = the
    number of distinct discrete argmin K in the fit (``se = se_OLS · sqrt((n_fit-2)/(n_eff-2))``),
    with a Student-t interval on ``n_eff - 2`` degrees of freedom (NaN if ``n_eff < 3``).
    """
    _check_level(level)
    parsed = _read_curves(curves, cost)
    logK = np.log([k for k, _, _ in parsed])
    lo = min(lc[0] for _, lc, _ in parsed)
    hi = max(lc[-1] for _, lc, _ in parsed)
    logC = np.linspace(lo, hi, int(n_grid))
    logL = _log_loss_grid(parsed, logC)
    j, interior, logk_opt = _optimum(logK, logL)

    def gamma_of(lk: np.ndarray, inter: np.ndarray) -> tuple[float, float, float]:
        if inter.sum() < 2:
            return (float("nan"),) * 3
        return _slope_fit(logC[inter], lk[inter])

    n_fit = int(interior.sum())
    if n_fit < 2:
        raise ValueError("frontier: fewer than 2 compute values have an interior optimum; "
                         "widen the K range or the t range")
    gamma, a, se_ols = gamma_of(logk_opt, interior)
    n_eff = int(np.unique(j[interior]).size)
    boot = n_resamples > 0 and all(r.shape[0] >= 2 for _, _, r in parsed)
    if boot:
        rng = np.random.default_rng(seed)
        reps = []
        for _ in range(int(n_resamples)):
            rows = [r[rng.integers(0, r.shape[0], r.shape[0])] for _, _, r in parsed]
            _, inter_b, lk_b = _optimum(logK, _log_loss_grid(parsed, logC, rows))
            reps.append(gamma_of(lk_b, inter_b)[0])
        reps = np.asarray(reps)
        reps = reps[np.isfinite(reps)]
        g_lo, g_hi = (np.quantile(reps, [(1 - level) / 2, (1 + level) / 2]) if reps.size
                      else (np.nan, np.nan))
        se = float(reps.std(ddof=1)) if reps.size > 1 else float("nan")
    else:
        se = se_ols * math.sqrt((n_fit - 2) / (n_eff - 2)) if n_eff > 2 and n_fit > 2 else float("nan")
        q = float(stats.t.ppf(0.5 + level / 2, n_eff - 2)) if n_eff > 2 else float("nan")
        g_lo, g_hi = gamma - q * se, gamma + q * se
    Ks = np.exp(logK)
    with np.errstate(invalid="ignore"):
        L_star = np.exp(np.where(j >= 0, logL[np.arange(j.size), np.clip(j, 0, None)], np.nan))
    return Frontier(np.exp(logC), L_star, np.where(j >= 0, Ks[np.clip(j, 0, None)], np.nan),
                    np.exp(logk_opt), interior, Ks, float(gamma), float(se), float(g_lo), float(g_hi),
                    "bootstrap" if boot else "regression", math.exp(a), float(level), n_fit, n_eff)


def iso_compute(curves: Any, C_values: Any, cost: Cost | None = None) -> dict[str, np.ndarray]:
    """Loss against K at fixed compute (paper Fig. 7b): ``{"K": (n_K,), "C": (n_C,), "loss":
    (n_C, n_K)}``, each curve's (mean) loss interpolated log–log at C; NaN outside its range."""
    parsed = _read_curves(curves, cost)
    C = np.atleast_1d(np.asarray(C_values, dtype=float))
    if np.any(~np.isfinite(C) | (C <= 0)):
        raise ValueError("iso_compute: C_values must be finite and > 0")
    with np.errstate(invalid="ignore"):
        loss = np.exp(_log_loss_grid(parsed, np.log(C)))
    return {"K": np.array([k for k, _, _ in parsed]), "C": C, "loss": loss}


@dataclass(frozen=True, eq=False)
class Plateau:
    """Final-plateau loss: ``mean`` and its standard error ``se`` over ``t_lo <= t <= t_hi``.
    Unpacks as ``mean, se = plateau_loss(...)``."""

    mean: float
    se: float
    t_lo: float
    t_hi: float
    n_points: int
    n_models: int

    def __iter__(self) -> Iterator[float]:
        return iter((self.mean, self.se))


def plateau_loss(t: Any, loss: Any, *, final_fraction: float = 0.2) -> Plateau:
    """Mean loss over the last ``final_fraction`` of the curve **in log t** (points with
    ``log t >= log t_max - final_fraction · (log t_max - log t_min)``, over t > 0), paper App. A.4.

    ``loss`` of shape ``(n_times,)``: ``se`` = sample std / sqrt(n_points) — this treats
    successive points as independent and so understates the error of autocorrelated curves.
    ``loss`` of shape ``(n_models, n_times)``: each model's plateau is averaged first and ``se``
    is the standard error across models (the one to prefer).  NaN ``se`` from a single value.
    """
    if not 0 < final_fraction <= 1:
        raise ValueError(f"final_fraction: must be in (0, 1], got {final_fraction!r}")
    t = np.asarray(t, dtype=float)
    rows = np.asarray(loss, dtype=float)
    single = rows.ndim == 1
    rows = np.atleast_2d(rows)
    as_curve(t, rows[0])
    if rows.ndim != 2 or rows.shape[1] != t.size:
        raise ValueError(f"plateau_loss: loss must be (n_times,) or (n_models, n_times), got {np.shape(loss)}")
    ok = np.isfinite(t) & (t > 0) & np.all(np.isfinite(rows), axis=0)
    if ok.sum() < 2:
        raise ValueError("plateau_loss: fewer than 2 points with t > 0 and finite loss")
    lt = np.log(t[ok])
    sel = lt >= lt.max() - final_fraction * (lt.max() - lt.min())
    vals = rows[:, ok][:, sel]
    per = vals[0] if single else vals.mean(axis=1)
    se = float(per.std(ddof=1) / math.sqrt(per.size)) if per.size > 1 else float("nan")
    ts = t[ok][sel]
    return Plateau(float(per.mean()), se, float(ts.min()), float(ts.max()), int(sel.sum()), rows.shape[0])


@dataclass(frozen=True, eq=False)
class ScalingFit:
    """``L_∞(K) = c · K^-beta`` fitted in log–log; ``[beta_lo, beta_hi]`` a Student-t interval at
    ``level`` on ``n_points - 2`` degrees of freedom; ``residuals`` in log space."""

    beta: float
    beta_se: float
    beta_lo: float
    beta_hi: float
    c: float
    c_se: float
    level: float
    n_points: int
    K_range: tuple[float, float]
    weighted: bool
    residuals: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"beta": _json_float(self.beta), "beta_se": _json_float(self.beta_se),
                "beta_interval": [_json_float(self.beta_lo), _json_float(self.beta_hi)],
                "c": _json_float(self.c), "c_se": _json_float(self.c_se), "level": self.level,
                "n_points": self.n_points, "K_range": [float(k) for k in self.K_range],
                "weighted": self.weighted, "residuals": [_json_float(r) for r in self.residuals]}


def fit_width_scaling(K: Any, plateau: Any, *, plateau_se: Any = None, level: float = 0.95) -> ScalingFit:
    """Fit the width-limited loss ``L_∞(K) = c K^-β`` (paper eq. 9 term ``c_k K^-β``, App. A.4).

    Least squares of ``log L_∞`` on ``log K``; with ``plateau_se`` weighted by
    ``1/σ²``, ``σ = plateau_se / plateau`` (the SE of log L_∞).  The covariance is
    ``s² (XᵀWX)⁻¹`` with ``s²`` the residual variance (weighted: the reduced χ²), i.e. the errors
    are scaled to the observed scatter.  Needs at least 3 points.
    """
    _check_level(level)
    K = np.asarray(K, dtype=float).ravel()
    L = np.asarray(plateau, dtype=float).ravel()
    if K.shape != L.shape:
        raise ValueError(f"K and plateau have different shapes: {K.shape} vs {L.shape}")
    if K.size < 3 or np.unique(K).size < 2:
        raise ValueError(f"fit_width_scaling: need at least 3 points and 2 distinct K, got {K.size}")
    if np.any(~np.isfinite(K) | (K <= 0) | ~np.isfinite(L) | (L <= 0)):
        raise ValueError("fit_width_scaling: K and plateau must be finite and > 0")
    w = np.ones_like(L)
    if plateau_se is not None:
        se = np.asarray(plateau_se, dtype=float).ravel()
        if se.shape != L.shape or np.any(~np.isfinite(se) | (se <= 0)):
            raise ValueError("plateau_se: must match plateau in shape and be finite and > 0")
        w = (L / se) ** 2
    x, y = np.log(K), np.log(L)
    xm = float(w @ x / w.sum())
    X = np.column_stack([np.ones_like(x), x - xm]) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(X, y * np.sqrt(w), rcond=None)
    resid = y - coef[0] - coef[1] * (x - xm)
    s2 = float(w @ resid**2) / (K.size - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    beta, beta_se = -float(coef[1]), math.sqrt(cov[1, 1])
    # c = exp(a - slope * xm) with slope = -beta: delta method on (a, slope)
    c = math.exp(coef[0] - coef[1] * xm)
    g = np.array([c, -c * xm])
    q = float(stats.t.ppf(0.5 + level / 2, K.size - 2))
    return ScalingFit(beta, beta_se, beta - q * beta_se, beta + q * beta_se, c, math.sqrt(float(g @ cov @ g)),
                      float(level), int(K.size), (float(K.min()), float(K.max())), plateau_se is not None, resid)
