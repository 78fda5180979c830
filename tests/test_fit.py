"""Tests of supdyn.fit against independent oracles (synthetic curves with known exponents)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from supdyn import cli
from supdyn.fit import (bootstrap_fit, bootstrap_statistic, compute_frontier, fit_power_law, fit_width_scaling,
                        iso_compute, local_exponent, loss_ratio, plateau_loss, speedup, time_to_loss, window_scan)

T = np.logspace(2, 5, 61)


# ---------------------------------------------------------------------------------------------
# fit_power_law
@pytest.mark.parametrize("alpha,c,L0", [(1.0, 5.0, 0.01), (0.3, 1.0, 0.0), (1.5, 100.0, 1e-3),
                                        (0.09, 2.0, 0.5), (2.0, 1e4, 0.2)])
def test_noise_free_offset_fit_recovers_parameters(alpha, c, L0):
    f = fit_power_law(T, c * T**-alpha + L0, (1e3, 1e4))
    assert abs(f.alpha - alpha) < 1e-3
    assert f.c == pytest.approx(c, rel=1e-3)
    assert f.L0 == pytest.approx(L0, abs=1e-6 * c * 1e4**-alpha + 1e-9)
    assert f.n_points == int(((T >= 1e3) & (T <= 1e4)).sum()) and f.window == (1e3, 1e4) and f.offset
    assert f.residuals.shape == (f.n_points,) and np.max(np.abs(f.residuals)) < 1e-8


@pytest.mark.parametrize("alpha,c", [(0.7, 3.0), (1.0, 1e-2), (0.09, 1.0)])
def test_noise_free_pure_power_law_without_offset(alpha, c):
    f = fit_power_law(T, c * T**-alpha, (1e3, 1e4), offset=False)
    assert abs(f.alpha - alpha) < 1e-3 and f.c == pytest.approx(c, rel=1e-6)
    assert f.L0 == 0.0 and f.L0_se == 0.0 and not f.offset


def test_no_offset_on_curve_with_plateau_is_biased():
    """Sanity: ignoring a real L0 gives a smaller apparent exponent (the fit can fail)."""
    L = 5 * T**-1.0 + 1e-3
    assert fit_power_law(T, L, (1e3, 1e4), offset=False).alpha < 0.9


def test_offset_fit_standard_errors_cover_truth():
    """200 replicates with multiplicative log-normal noise: alpha ± 1.96 SE covers alpha ~95%."""
    rng = np.random.default_rng(1)
    t = np.logspace(3, 4, 30)
    alpha, c, L0, sigma = 1.0, 5.0, 1e-3, 0.02
    hits, zs = 0, []
    for _ in range(200):
        L = (c * t**-alpha + L0) * np.exp(sigma * rng.standard_normal(t.size))
        f = fit_power_law(t, L, (1e3, 1e4))
        hits += abs(f.alpha - alpha) < 1.96 * f.alpha_se
        zs.append((f.alpha - alpha) / f.alpha_se)
    assert 0.90 <= hits / 200 <= 0.99
    assert 0.8 < np.std(zs) < 1.25  # standardized errors have unit spread


def test_interval_and_to_dict_are_consistent():
    rng = np.random.default_rng(2)
    L = (2 * T**-0.8 + 1e-3) * np.exp(0.03 * rng.standard_normal(T.size))
    f = fit_power_law(T, L, (1e3, 1e5))
    lo, hi = f.interval("alpha", 0.95)
    assert lo < f.alpha < hi and hi - lo > 2 * 1.96 * f.alpha_se  # Student t is wider than normal
    d = json.loads(json.dumps(f.to_dict(), allow_nan=False))
    assert d["alpha"] == f.alpha and d["window"] == [1e3, 1e5] and d["n_points"] == f.n_points
    assert len(d["residuals"]) == f.n_points
    np.testing.assert_allclose(f.predict(T), f.c * T**-f.alpha + f.L0)


@pytest.mark.parametrize("offset", [True, False])
def test_steep_late_window_does_not_overflow(offset):
    """A steep power law on a late window (α = 60 on [1e7, 1e8], as the algebraic law's theory loss
    there): its amplitude at t = 1, c = L(1e7)·1e7^60 ≈ 1e400, exceeds float64. The fit must still
    recover α and the curve (through the amplitude at the window's reference time) and report c as
    inf, not raise OverflowError (found fitting Fig. 11's algebraic theory curve on [1e7, 1e8])."""
    t = np.logspace(7, 8, 41)
    alpha, l_at_lo = 60.0, 1e-20
    loss = l_at_lo * (t / 1e7) ** -alpha  # hand-made: 1e-20 at t = 1e7, 1e-80 at 1e8
    f = fit_power_law(t, loss, (1e7, 1e8), offset=offset)
    assert f.alpha == pytest.approx(alpha, rel=1e-6)
    assert math.isinf(f.c) and f.c > 0
    assert f.log_c == pytest.approx(math.log(l_at_lo) + alpha * math.log(1e7), rel=1e-9)
    np.testing.assert_allclose(f.predict(t), loss, rtol=1e-5)
    d = json.loads(json.dumps(f.to_dict(), allow_nan=False))
    assert d["c"] is None and d["alpha"] == pytest.approx(alpha, rel=1e-6)


def test_reference_amplitude_equals_c_where_finite():
    """c_ref (t/t_ref)^−α is the same curve as c t^−α when c is representable."""
    f = fit_power_law(T, 5.0 * T**-1.0 + 0.01, (1e3, 1e4))
    assert f.c_ref * f.t_ref ** f.alpha == pytest.approx(f.c, rel=1e-9)
    assert 1e3 <= f.t_ref <= 1e4


@pytest.mark.parametrize("t,loss,window,match", [
    (T, T[:-1], (1e3, 1e4), "different shapes"),
    (T, 1 / T, (1e4, 1e3), "lo < hi"),
    (T, 1 / T, (1e3, 1e3), "lo < hi"),
    (T, 1 / T, (1e6, 1e7), "does not overlap"),
    (T, 1 / T, (1e3, 1.2e3), "allowed: a window with at least 5 points"),
    (T, np.where(T > 2e3, -1.0, 1 / T), (1e3, 1e4), "non-positive"),
    (T, np.where(T > 2e3, np.nan, 1 / T), (1e3, 1e4), "non-finite"),
    (T, np.where(T > 2e3, 0.0, 1 / T), (1e3, 1e4), "non-positive"),
    (np.linspace(-1, 1, 50), np.ones(50), (-1, 1), "t <= 0"),
])
def test_bad_inputs_raise(t, loss, window, match):
    with pytest.raises(ValueError, match=match) as exc:
        fit_power_law(t, loss, window)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------------------
# local exponent, window scan
def test_local_exponent_of_exact_power_laws():
    alpha, c, L0 = 0.8, 3.0, 0.05
    inner = (T > 3e2) & (T < 3e4)
    for smooth in (0.0, 0.2, 0.5):
        a = local_exponent(T, c * T**-alpha, smooth=smooth)
        assert np.max(np.abs(a[inner] - alpha)) < 1e-3
        b = local_exponent(T, c * T**-alpha + L0, L0, smooth=smooth)
        assert np.max(np.abs(b[inner] - alpha)) < 1e-3
    # with the wrong L0 the apparent exponent falls at late times (the check can fail)
    assert local_exponent(T, c * T**-alpha + L0, 0.0)[-5] < 0.5 * alpha


def test_local_exponent_is_nan_where_undefined():
    t = np.array([0.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    L = np.array([1.0, 1.0, 0.5, 0.25, 0.1, 0.125])
    a = local_exponent(t, L, 0.11, smooth=0.0)
    assert a.shape == t.shape
    assert np.isnan(a[0]) and np.isnan(a[4]) and np.all(np.isfinite(a[1:4]))


def test_window_scan_on_broken_power_law():
    a1, a2, tb = 0.5, 1.5, 1e3
    t = np.logspace(0, 6, 121)
    L = np.where(t < tb, t**-a1, tb**-a1 * (t / tb) ** -a2)
    s = window_scan(t, L, width_decades=1.0, per_decade=4)
    assert s["alpha"].size == 21 and np.all(s["n_points"] >= 5)
    np.testing.assert_allclose(s["t_hi"] / s["t_lo"], 10.0)
    below, above = s["t_hi"] <= tb / 1.5, s["t_lo"] >= tb * 1.5
    assert below.sum() >= 5 and above.sum() >= 5
    np.testing.assert_allclose(s["alpha"][below], a1, atol=1e-3)
    np.testing.assert_allclose(s["alpha"][above], a2, atol=1e-3)
    straddle = (s["t_lo"] < tb / 2) & (s["t_hi"] > tb * 2)
    assert np.all(np.abs(s["alpha"][straddle] - a1) > 0.05)  # the break is visible
    assert window_scan(t[:3], L[:3])["alpha"].size == 0
    sparse = np.logspace(0, 3, 10)  # 3 points per decade: a 1-decade window holds only 4
    assert window_scan(sparse, sparse**-1.0)["alpha"].size == 0
    wide = window_scan(sparse, sparse**-1.0, width_decades=2.0, per_decade=3)
    assert wide["alpha"].size == 4 and np.all(wide["n_points"] == 7)


# ---------------------------------------------------------------------------------------------
# bootstrap
def _seeds(n_models: int, seed: int, alpha: float = 1.0, c: float = 5.0, L0: float = 1e-3) -> tuple:
    rng = np.random.default_rng(seed)
    t = np.logspace(3, 4, 30)
    noise = np.exp(0.05 * rng.standard_normal((n_models, t.size)) + 0.1 * rng.standard_normal((n_models, 1)))
    return t, (c * t**-alpha + L0) * noise


def test_bootstrap_fit_interval_contains_truth_and_is_reproducible():
    t, losses = _seeds(12, seed=3)
    b = bootstrap_fit(t, losses, (1e3, 1e4), n_resamples=200, seed=7)
    assert b.alpha.lo <= 1.0 <= b.alpha.hi and b.alpha.hi - b.alpha.lo < 0.2
    assert b.alpha.lo < b.fit.alpha < b.alpha.hi and b.n_models == 12 and b.alpha.replicates.size == 200
    assert b.c.lo < b.c.hi and b.L0.lo <= b.L0.hi
    again = bootstrap_fit(t, losses, (1e3, 1e4), n_resamples=200, seed=7)
    np.testing.assert_array_equal(again.alpha.replicates, b.alpha.replicates)
    assert (again.alpha.lo, again.alpha.hi) == (b.alpha.lo, b.alpha.hi)
    other = bootstrap_fit(t, losses, (1e3, 1e4), n_resamples=200, seed=8)
    assert not np.array_equal(other.alpha.replicates, b.alpha.replicates)
    json.dumps(b.to_dict(), allow_nan=False)


def test_bootstrap_statistic_matches_normal_theory():
    """Bootstrap of the mean of 400 N(2, 1) draws: interval width ≈ 2·1.96/sqrt(400)."""
    x = np.random.default_rng(4).normal(2.0, 1.0, 400)
    b = bootstrap_statistic(x, np.mean, n_resamples=2000, seed=0)
    assert b.lo < 2.0 < b.hi and b.estimate == pytest.approx(x.mean())
    assert (b.hi - b.lo) == pytest.approx(2 * 1.96 / 20, rel=0.15)
    assert b.se == pytest.approx(1 / 20, rel=0.15)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_statistic(x[:1], np.mean)


# ---------------------------------------------------------------------------------------------
# compute-optimal frontier
def _family(Ks, alpha=1.0, beta=1.3, ct=1.0, ck=1.0, t=np.logspace(0, 6, 241)):
    return {K: (t, ct * t**-alpha + ck * K**-beta) for K in Ks}


def test_frontier_recovers_analytic_gamma():
    """L(t, K) = c_t t^-α + c_k K^-β with C = t K², so t = C/K² and
    L(C, K) = c_t C^-α K^{2α} + c_k K^-β.  Setting ∂L/∂K = 0:
    2α c_t C^-α K^{2α-1} = β c_k K^{-β-1}  ⇒  K_opt = (β c_k C^α / (2α c_t))^{1/(2α+β)},
    so K_opt ∝ C^γ with γ = α/(2α+β)."""
    for alpha, beta in [(1.0, 1.3), (0.5, 1.0)]:
        Ks = 2.0 ** np.arange(3, 13)
        f = compute_frontier(_family(Ks, alpha, beta))
        gamma = alpha / (2 * alpha + beta)
        assert abs(f.gamma - gamma) < 0.02
        assert f.gamma_lo <= gamma <= f.gamma_hi and f.gamma_method == "regression"
        C = f.C[f.interior]
        k_true = (beta * C**alpha / (2 * alpha)) ** (1 / (2 * alpha + beta))
        np.testing.assert_allclose(f.K_opt[f.interior], k_true, rtol=0.1)
        assert np.all(np.isnan(f.K_opt[~f.interior])) and f.n_fit >= 10
        # the envelope is the minimum over K of the analytic loss at each C
        Lgrid = np.array([np.where((C >= K**2) & (C <= 1e6 * K**2), (C / K**2) ** -alpha + K**-beta, np.inf)
                          for K in Ks])
        np.testing.assert_allclose(f.L_star[f.interior], Lgrid.min(axis=0), rtol=1e-2)


def test_iso_compute_matches_analytic_loss():
    Ks = 2.0 ** np.arange(3, 9)
    r = iso_compute(_family(Ks), [1e4, 1e6])
    expect = (np.array([1e4, 1e6])[:, None] / Ks**2) ** -1.0 + Ks**-1.3
    inside = (np.array([1e4, 1e6])[:, None] >= Ks**2)
    np.testing.assert_allclose(r["loss"][inside], expect[inside], rtol=1e-2)
    assert np.all(np.isnan(r["loss"][~inside])) and r["loss"].shape == (2, Ks.size)


def test_frontier_bootstrap_over_seeds_is_reproducible():
    rng = np.random.default_rng(5)
    t = np.logspace(0, 6, 121)
    Ks = 2.0 ** np.arange(3, 11)
    curves = [(K, t, (t**-1.0 + K**-1.3) * np.exp(0.05 * rng.standard_normal((4, t.size)))) for K in Ks]
    a = compute_frontier(curves, n_resamples=20, seed=1)
    b = compute_frontier(curves, n_resamples=20, seed=1)
    assert a.gamma_method == "bootstrap" and (a.gamma_lo, a.gamma_hi) == (b.gamma_lo, b.gamma_hi)
    assert a.gamma_lo <= a.gamma <= a.gamma_hi and abs(a.gamma - 1 / 3.3) < 0.03
    json.dumps(a.to_dict())


# ---------------------------------------------------------------------------------------------
# width scaling
def test_width_scaling_noise_free_and_noisy():
    K = np.array([32, 64, 128, 256, 512], dtype=float)
    f = fit_width_scaling(K, 3.0 * K**-1.3)
    assert abs(f.beta - 1.3) < 1e-6 and f.c == pytest.approx(3.0, rel=1e-6) and f.n_points == 5
    rng = np.random.default_rng(6)
    L = 3.0 * K**-1.3 * np.exp(0.03 * rng.standard_normal(K.size))
    g = fit_width_scaling(K, L)
    assert g.beta_lo <= 1.3 <= g.beta_hi and g.beta_se > 0
    w = fit_width_scaling(K, L, plateau_se=0.03 * L)
    assert w.weighted and w.beta == pytest.approx(g.beta)  # equal relative errors: same estimate
    with pytest.raises(ValueError, match="at least 3"):
        fit_width_scaling(K[:2], L[:2])


def test_plateau_loss_last_fraction_in_log_t():
    t = np.logspace(0, 5, 51)
    L = 1 / t + 0.01
    p = plateau_loss(t, L, final_fraction=0.2)
    assert p.t_lo == pytest.approx(1e4) and p.t_hi == pytest.approx(1e5) and p.n_points == 11
    assert p.mean == pytest.approx(np.mean(L[-11:]))
    rng = np.random.default_rng(7)
    rows = 0.02 + 0.001 * rng.standard_normal((50, t.size))
    mean, se = plateau_loss(t, rows)
    assert abs(mean - 0.02) < 3 * se and se == pytest.approx(0.001 / math.sqrt(50 * 11), rel=0.3)


# ---------------------------------------------------------------------------------------------
# speed-up measures
def test_time_to_loss_and_speedup_match_analytic_power_laws():
    t = np.logspace(0, 6, 61)
    c1, a1, c2, a2 = 1.0, 0.5, 2.0, 1.0
    L1, L2 = c1 * t**-a1, c2 * t**-a2
    target = 3e-3
    T1, T2 = (c1 / target) ** (1 / a1), (c2 / target) ** (1 / a2)
    assert time_to_loss(t, L1, target) == pytest.approx(T1, rel=1e-9)
    assert speedup(t, L1, t, L2, target) == pytest.approx(T1 / T2, rel=1e-9)
    assert math.isnan(time_to_loss(t, L1, 1e-9))
    assert time_to_loss(t, L1, 10.0) == 1.0
    at = np.array([10.0, 1e3])
    np.testing.assert_allclose(loss_ratio(t, L1, t, L2, at), c1 / c2 * at ** (a2 - a1), rtol=1e-9)
    assert math.isnan(loss_ratio(t, L1, t, L2, 1e7))


# ---------------------------------------------------------------------------------------------
# CLI
@pytest.fixture
def fit_cli(monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ["fit"])  # isolate from other verbs
    return cli.main


def _write_csv(path, t, loss):
    path.write_text("t,loss\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, loss)))
    return str(path)


def test_cli_fit_json(fit_cli, tmp_path, capsys):
    t = np.logspace(0, 3, 61)
    src = _write_csv(tmp_path / "c.csv", t, 2.0 * t**-0.75 + 1e-3)
    assert fit_cli(["fit", src, "--window", "10", "100", "--json", "--at", "30"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert abs(doc["alpha"] - 0.75) < 1e-3 and doc["window"] == [10.0, 100.0] and doc["n_points"] == 21
    assert {"alpha_se", "c", "c_se", "L0", "L0_se", "offset", "source"} <= doc.keys()
    assert abs(doc["local_exponent"]["alpha"][0] - 0.75) < 1e-3
    assert fit_cli(["fit", src, "--window", "10", "100", "--no-offset"]) == 0
    assert "alpha" in capsys.readouterr().out


@pytest.mark.parametrize("argv_tail,match", [(["--window", "100", "10"], "--window: got 100 10; allowed: 0 < LO < HI"),
                                             (["--window", "1e5", "1e6"], "does not overlap")])
def test_cli_fit_bad_window(fit_cli, tmp_path, capsys, argv_tail, match):
    t = np.logspace(0, 3, 31)
    src = _write_csv(tmp_path / "c.csv", t, 1 / t)
    assert fit_cli(["fit", src, *argv_tail]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and err.startswith("supdyn fit: error:")


def test_cli_fit_bad_sources(fit_cli, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,value\n1,2\n")
    assert fit_cli(["fit", str(bad)]) == 2
    assert "'t' and 'loss'" in capsys.readouterr().err
    assert fit_cli(["fit", "not-a-file.csv"]) == 2
    assert "not a run id" in capsys.readouterr().err
