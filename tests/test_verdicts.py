"""The verdict rules on synthetic data with known answers: intervals against their formulas, the TOST
equivalence test, the threshold and set rules, and whole experiments on curves of known exponents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn.config import RunConfig
from supdyn.experiments.common import alpha_set_decision, pooled_seed_sd, seed_fit, window_drop
from supdyn.experiments.fig7 import envelope_law
from supdyn.experiments.fig9 import at_init
from supdyn.experiments.rules import Decision, all_members, equivalence, must_fall, threshold, word
from supdyn.fit.intervals import mean_interval, paired_interval, t_interval, tost, welch_interval
from supdyn.store import StoredRun

T = np.concatenate([[0.0], np.logspace(0, 4, 41)])
W = (1e3, 1e4)


def power(alpha: float, c: float = 10.0, l0: float = 1e-3, t: np.ndarray = T) -> np.ndarray:
    return np.where(t > 0, c * np.where(t > 0, t, 1.0) ** -alpha + l0, c + l0)


def seeds_of(alphas: list[float], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(n_seeds, n_times) curves c t^-α_i + L0, each with multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    return np.stack([power(a) * np.exp(noise * rng.standard_normal(T.size)) for a in alphas])


def cfg(**kw) -> RunConfig:
    base = dict(n_features=1024, d_hidden=256, a=1.1, b=0.0, t_max=1e4, lr=1.0)
    return RunConfig().replace(**{**base, **kw})


def fake_run(c: RunConfig, loss: np.ndarray) -> StoredRun:
    return StoredRun(c.run_id, c, {"t": T.copy(), "loss": np.asarray(loss, float)}, {"wall_time": 1.0, "diverged": False})


# -- intervals against their formulas ---------------------------------------------------------------

def test_mean_interval_is_students_t_by_hand():
    x = [1.0, 2.0, 4.0]
    m, s = 7 / 3, math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    iv = mean_interval(x, 0.95)
    q = 4.302652729911275  # t_{0.975, 2} (tables)
    assert iv.estimate == pytest.approx(m) and iv.dof == 2
    assert (iv.lo, iv.hi) == pytest.approx((m - q * s / math.sqrt(3), m + q * s / math.sqrt(3)))
    assert not mean_interval([1.0], 0.95).defined  # one value: no interval


def test_welch_matches_hand_formula_and_paired_uses_differences():
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 2.0, 2.5, 3.0]
    va, vb = np.var(x, ddof=1) / 4, np.var(y, ddof=1) / 5
    nu = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 4)
    iv = welch_interval(x, y, 0.95)
    assert iv.dof == pytest.approx(nu) and iv.se == pytest.approx(math.sqrt(va + vb))
    assert iv.estimate == pytest.approx(np.mean(x) - np.mean(y))
    p = paired_interval([1.0, 2.0, 3.0], [0.5, 1.6, 2.4], 0.95)
    q = mean_interval([0.5, 0.4, 0.6], 0.95)
    assert (p.lo, p.hi) == pytest.approx((q.lo, q.hi))


def test_student_t_interval_covers_the_mean_at_its_level():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(4000):
        iv = mean_interval(rng.normal(0.3, 1.0, 3), 0.90)
        hits += iv.lo <= 0.3 <= iv.hi
    assert abs(hits / 4000 - 0.90) < 0.02


def test_tost_p_below_alpha_iff_the_90_interval_lies_inside_the_band():
    rng = np.random.default_rng(2)
    for _ in range(300):
        est, se, dof = rng.normal(0, 0.1), abs(rng.normal(0.05, 0.02)) + 1e-3, int(rng.integers(1, 10))
        res = tost(est, se, dof, 0.0, 0.1, alpha=0.05)
        iv = t_interval(est, se, dof, 0.90)
        assert res.equivalent == (-0.1 < iv.lo and iv.hi < 0.1)
    assert math.isnan(tost(0.0, 0.01, 0, 0.0, 0.1).p)  # no degrees of freedom: no test


# -- the rules ----------------------------------------------------------------------------------------

def test_equivalence_rule_outcomes():
    assert equivalence(1.0, 0.95, 1.05, 1.0, 0.1).outcome == "pass"
    assert equivalence(1.3, 1.2, 1.4, 1.0, 0.1).outcome == "fail"  # entirely outside
    assert equivalence(1.05, 0.98, 1.12, 1.0, 0.1).outcome == "inconclusive"  # crosses an edge
    assert equivalence(1.0, 0.5, 1.5, 1.0, 0.1).outcome == "inconclusive"  # wider than the band
    assert equivalence(1.0, 0.97, 1.03, 1.0, 0.1, seed_variation=False).outcome == "inconclusive"
    assert equivalence(1.0, None, None, 1.0, 0.1).outcome == "inconclusive"  # no interval
    assert equivalence(float("nan"), None, None, 1.0, 0.1).outcome == "untested"
    assert equivalence(1.04, None, None, 1.0, 0.05, deterministic=True).outcome == "pass"
    assert equivalence(1.06, None, None, 1.0, 0.05, deterministic=True).outcome == "fail"
    # one seed with an allowance: can fail, never pass
    assert equivalence(58, None, None, 400, 100, allowance=20).outcome == "fail"
    assert equivalence(400, None, None, 400, 100, allowance=20).outcome == "inconclusive"


def test_threshold_rule_outcomes():
    assert threshold(0.5, 0.4, 0.6, 1.0, above=False).outcome == "pass"
    assert threshold(0.9, 0.8, 1.1, 1.0, above=False).outcome == "inconclusive"
    assert threshold(1.5, 1.2, 1.8, 1.0, above=False).outcome == "fail"
    assert threshold(11.0, 10.5, 12.0, 10.0, above=True).outcome == "pass"
    assert threshold(0.5, None, None, 1.0, above=False).outcome == "inconclusive"  # 1 seed, no allowance
    assert threshold(0.5, None, None, 1.0, above=False, allowance=0.1).outcome == "pass"
    assert threshold(0.95, None, None, 1.0, above=False, allowance=0.1).outcome == "inconclusive"
    assert threshold(1.2, None, None, 1.0, above=False, allowance=0.1).outcome == "fail"
    assert threshold(0.95, None, None, 1.0, above=False, deterministic=True).outcome == "pass"


def test_set_rule_needs_every_member():
    p, f, i, u = (Decision(o, o) for o in ("pass", "fail", "inconclusive", "untested"))
    assert all_members([p, p, p], "abc").outcome == "pass"
    assert all_members([p, f, p], "abc").outcome == "fail"
    assert all_members([p, i, p], "abc").outcome == "inconclusive"
    assert all_members([p, u], "ab").outcome == "inconclusive"
    assert all_members([u, u], "ab").outcome == "untested"
    assert all_members([], []).outcome == "untested"
    assert (word("claim", "pass"), word("check", "fail")) == ("reproduced", "failed")


# -- fitted exponents over seeds (known answers) ------------------------------------------------------

def test_equal_exponents_pass_the_equivalence_test():
    fit = seed_fit(T, seeds_of([1.0, 1.0, 1.0], noise=0.003), W, n_boot=50)
    res = alpha_set_decision([("x", fit)], 1.0, 0.1, pooled_seed_sd([fit]), min_drop=0.5)
    assert res["decision"].outcome == "pass"
    assert res["tests"][0]["kind"].startswith("CI 95% over seeds")


def test_exponents_0_2_apart_fail_the_equivalence_test():
    fit = seed_fit(T, seeds_of([1.2, 1.2, 1.2], noise=0.003), W, n_boot=50)
    assert alpha_set_decision([("x", fit)], 1.0, 0.1, None, min_drop=0.5)["decision"].outcome == "fail"


def test_a_wide_interval_is_inconclusive():
    # seeds whose exponents spread by ±0.15 around 1.0: the 90% CI is wider than the ±0.1 band
    fit = seed_fit(T, seeds_of([0.85, 1.0, 1.15]), W, n_boot=50)
    d = alpha_set_decision([("x", fit)], 1.0, 0.1, None, min_drop=0.5)
    assert d["decision"].outcome == "inconclusive"
    assert d["tests"][0]["hi90"] - d["tests"][0]["lo90"] > 0.2


def test_one_seed_without_pooled_spread_cannot_pass():
    fit = seed_fit(T, seeds_of([1.0]), W)
    assert alpha_set_decision([("x", fit)], 1.0, 0.1, None, min_drop=0.5)["decision"].outcome == "inconclusive"
    # with the seed SD pooled from a replicated point it can
    rep = seed_fit(T, seeds_of([0.99, 1.0, 1.01]), W, n_boot=50)
    pooled = pooled_seed_sd([rep, fit])
    assert pooled["dof"] == 2 and pooled["sd"] == pytest.approx(0.01, rel=0.05)
    assert alpha_set_decision([("x", fit)], 1.0, 0.1, pooled, min_drop=0.5)["decision"].outcome == "pass"


def test_a_set_claim_with_one_failing_member_fails():
    good = seed_fit(T, seeds_of([1.0, 1.0, 1.0], noise=0.003), W, n_boot=50)
    bad = seed_fit(T, seeds_of([0.6, 0.6, 0.6], noise=0.003, seed=3), W, n_boot=50)
    res = alpha_set_decision([("good", good), ("good2", good), ("bad", bad)], 1.0, 0.15, None, min_drop=0.5)
    assert res["decision"].outcome == "fail" and "bad" in res["decision"].reason


# -- whole experiments on synthetic runs ---------------------------------------------------------------

def _fig12_runs(d_alpha: float) -> list[StoredRun]:
    runs = []
    for s in range(3):
        rng = np.random.default_rng(s)
        a_f = 1.0 + 0.005 * rng.standard_normal()
        runs.append(fake_run(cfg(seed=s), power(a_f)))
        runs.append(fake_run(cfg(seed=s, variant="learnable"), power(a_f + d_alpha)))
    return runs


def test_fig12_paired_exponents_equal_pass_and_0_2_apart_fail():
    exp = ex.get("fig12")
    same = {c.id: c for c in exp.claims(exp.analyze(_fig12_runs(0.0), "quick"))}
    assert same["fig12_alpha_unchanged_by_learning"].verdict == "reproduced"
    apart = {c.id: c for c in exp.claims(exp.analyze(_fig12_runs(0.2), "quick"))}
    assert apart["fig12_alpha_unchanged_by_learning"].verdict == "not reproduced"
    assert apart["fig12_alpha_unchanged_by_learning"].measured == pytest.approx(0.2, abs=1e-3)


def test_fig12_gap_is_judged_at_the_claims_time():
    """L_learnable = L_fixed · (1 − g(t)) with g small where L_fixed = 1e-2 and large late: the gap at t*
    (L_fixed(t*) = 1e-2: 10 t*^-1 + 1e-3 = 1e-2 → t* = 1111) decides, not the worst time of the window."""
    exp = ex.get("fig12")
    g = np.where(T > 3e3, 0.6, 0.05)
    runs = []
    for s in range(3):
        runs += [fake_run(cfg(seed=s), power(1.0)), fake_run(cfg(seed=s, variant="learnable"), power(1.0) * (1 - g))]
    res = exp.analyze(runs, "quick")
    c = {x.id: x for x in exp.claims(res)}["fig12_learnable_gap_small"]
    assert res["pairs"][0]["gap_time"] == pytest.approx(10 / (1e-2 - 1e-3), rel=0.05)
    assert c.measured == pytest.approx(0.05, abs=1e-6) and c.verdict == "reproduced"
    assert res["pairs"][0]["gap"] == pytest.approx(0.6)  # the worst time of the window would have failed it


def test_fig5_one_point_outside_fails_the_universal_claim():
    exp = ex.get("fig5")
    runs = [fake_run(cfg(a=1.1, d_hidden=256, seed=s), power(1.0 + 0.004 * s)) for s in range(3)]
    runs += [fake_run(cfg(a=1.5, d_hidden=256), power(1.0)), fake_run(cfg(a=2.0, d_hidden=256), power(0.6))]
    c = {x.id: x for x in exp.claims(exp.analyze(runs, "quick"))}
    assert c["fig5_alpha_universal_a"].verdict == "not reproduced"
    assert any("a=2" in r for r in c["fig5_alpha_universal_a"].reasons)
    ok = runs[:4]
    c = {x.id: x for x in exp.claims(exp.analyze(ok, "quick"))}
    assert c["fig5_alpha_universal_a"].verdict == "reproduced"
    # two rows for the acceleration: the paper's comparator and the finite-N theory
    assert {"fig5_superposition_accelerates_exponent", "fig5_superposition_accelerates_exponent_finite_n"} <= set(c)
    assert c["fig5_superposition_accelerates_exponent"].verdict == "reproduced"  # 1 / 0.0909 = 11 > 10
    assert c["fig5_superposition_accelerates_exponent_finite_n"].verdict == "not reproduced"  # vs ≈ 0.7


def test_deterministic_theory_rows_have_no_interval():
    exp = ex.get("fig10_11")
    rows = exp.claims(exp.analyze([], "smoke"))
    theory = [c for c in rows if c.id.startswith(("fig10", "fig11"))]
    assert theory and all(c.interval is None and c.interval_kind.startswith("none") for c in theory)


def test_report_tally_and_tables_split_claims_from_checks(tmp_path):
    from supdyn.report import markdown_tables, split_rows, tally, write_report

    rows = [{"id": "a", "kind": "claim", "verdict": "reproduced", "paper_value": "≈ 1", "measured": 1.0,
             "interval": [0.9, 1.1], "interval_kind": "CI 95% over seeds", "window": "w", "rule": "r",
             "reasons": ["why a"], "experiment": "fig5"},
            {"id": "b", "kind": "claim", "verdict": "inconclusive", "paper_value": "x", "measured": None,
             "interval": None, "interval_kind": "none", "window": "w", "rule": "r", "reasons": ["why b"]},
            {"id": "c", "kind": "check", "verdict": "failed", "paper_value": "y", "measured": 2.0, "interval": None,
             "interval_kind": "none", "window": "w", "rule": "r", "reasons": ["why c"]}]
    paper, ours = split_rows(rows)
    assert [r["id"] for r in paper] == ["a", "b"] and [r["id"] for r in ours] == ["c"]
    t = tally(rows)
    assert t["claims"]["reproduced"] == 1 and t["claims"]["inconclusive"] == 1 and t["checks"]["failed"] == 1
    md = markdown_tables(rows)
    assert md.index("`a`") < md.index("Our consistency checks") < md.index("`c`")
    page = write_report(tmp_path, claims=rows, figures={"fig5": []}, titles={"fig5": "t"}, settings={},
                        versions={}, mode="smoke", wall_time=1.0, captions={"fig5": "Look at the slope."})
    html = page.read_text()
    assert "why a" in html and "why c" in html and "Look at the slope." in html and "Bears on: a" in html
    assert html.index("id='tally'") < html.index("id='claims'") < html.index("id='checks'")


# -- the loss must fall on the window before a fit over it can decide ---------------------------------

def test_window_drop_is_the_ratio_of_the_windows_end_losses():
    # c t^-1 + L0 with c = 10, L0 = 1e-3: L(1e3) = 0.011, L(1e4) = 0.002 → 0.011 / 0.002 − 1 = 4.5
    assert window_drop(T, power(1.0), W) == pytest.approx(4.5)
    assert math.isnan(window_drop(T, power(1.0), (2e4, 3e4)))  # window not reached


def test_must_fall_turns_a_decision_on_a_flat_curve_inconclusive():
    for outcome in ("pass", "fail", "inconclusive"):
        d = Decision(outcome, "x")
        assert must_fall(d, 0.6, 0.5) is d  # the loss falls enough: the member rule stands
        assert must_fall(d, 0.1, 0.5).outcome == "inconclusive"
        assert must_fall(d, float("nan"), 0.5).outcome == "inconclusive"
    assert must_fall(Decision("untested", "no fit"), 0.0, 0.5).outcome == "untested"


def test_a_flat_loss_makes_a_band_member_inconclusive():
    """0.05/t + 0.1 is c t^-α + L0 with α = 1 exactly, so its fit passes the band, but it falls by only
    (0.1 + 5e-5)/(0.1 + 5e-6) − 1 ≈ 4.5e-4 on [1e3, 1e4]: the member cannot count."""
    flat = np.stack([np.where(T > 0, 0.05 / np.where(T > 0, T, 1.0) + 0.1, 0.15) * (1 + 1e-4 * s) for s in range(3)])
    fit = seed_fit(T, flat, W, n_boot=50)
    assert fit["drop"] == pytest.approx(0.45e-4 / 0.100005, rel=1e-3)
    assert alpha_set_decision([("x", fit)], 1.0, 0.1, None, min_drop=0.0)["decision"].outcome == "pass"
    res = alpha_set_decision([("x", fit)], 1.0, 0.1, None, min_drop=0.5)
    assert res["decision"].outcome == "inconclusive" and "falls by only" in res["member_reasons"][0]


# -- goodness of fit, the envelope's power law, B(0) (known answers) ----------------------------------

def _fig6_runs(curve) -> list[StoredRun]:
    return [fake_run(cfg(a=a, b=b, seed=s), curve(T) * np.exp(0.002 * np.random.default_rng(s).standard_normal(T.size)))
            for a, b in ((1.1, 0.0), (1.5, 0.0)) for s in range(3)]


def test_fig6_a_pure_power_law_passes_the_fit_quality_threshold_and_a_bent_curve_fails():
    exp = ex.get("fig6")
    pure = {c.id: c for c in exp.claims(exp.analyze(_fig6_runs(lambda t: power(1.0, t=t)), "quick"))}
    row = pure["fig6_power_law_fit_quality"]
    assert row.verdict == "reproduced" and row.interval is not None and row.interval[1] < 0.02
    # an exponential cut-off bends the log-log curve downwards: no c t^-α + L0 follows it
    bent = lambda t: np.where(t > 0, 10 * np.where(t > 0, t, 1.0) ** -0.5 * np.exp(-t / 2e4), 10.0)
    row = {c.id: c for c in exp.claims(exp.analyze(_fig6_runs(bent), "quick"))}["fig6_power_law_fit_quality"]
    assert row.verdict == "not reproduced" and row.interval[0] > 0.02


def _width_curves(loss_of_C, ks=(8, 16, 32), n_seeds=2) -> list[dict]:
    t = np.logspace(0, 4, 401)  # dense: the log–log interpolation errs by ≤ k Δ(ln t)²/8 ≈ 3e-6 on ln L = −k (ln C)²
    return [{"K": k, "t": t, "losses": np.stack([loss_of_C(t * k**2)] * n_seeds)} for k in ks]


def test_envelope_law_of_a_power_law_envelope_and_of_a_bent_one():
    C = np.logspace(3, 5, 30)
    cost = lambda t, K: t * K**2
    pure = envelope_law(_width_curves(lambda c: 3.0 * c**-0.4), C, cost, n_boot=20)
    assert pure["slope"] == pytest.approx(-0.4) and pure["max_res"] < 1e-9
    assert pure["slope_interval"] == pytest.approx([-0.4, -0.4])  # identical seeds: no spread
    # ln L = −k x² (x = ln C) on n evenly spaced x over a span h: with u = (x − mid)/(h/2) the least-squares
    # line leaves k (h/2)² (mean u² − u²), largest at the ends: k (h/2)² (1 − (n + 1)/(3(n − 1)))
    bent = envelope_law(_width_curves(lambda c: np.exp(-0.05 * np.log(c) ** 2)), C, cost)
    h, n = np.log(100), C.size
    assert bent["max_res"] == pytest.approx(0.05 * (h / 2) ** 2 * (1 - (n + 1) / (3 * (n - 1))), rel=1e-4)
    assert bent["slope_interval"] is None  # no resamples asked for


def test_unlearned_entries_at_their_initial_values_are_counted_in_the_band():
    diag = np.array([0.9, 0.8, 1e-3, -2e-3, 2.9e-3, 5e-3, 0.02])
    unlearned = np.array([False, False, True, True, True, True, True])
    out = at_init(diag, unlearned, init_scale=1e-3, band=3.0)
    assert out["n_unlearned"] == 5 and out["frac_at_init"] == pytest.approx(3 / 5)
    assert out["min_z"] == pytest.approx(1.0) and out["median_z"] == pytest.approx(2.9)


def test_spearman_matches_the_rank_formula_and_drops_non_finite_pairs():
    from supdyn.fit import spearman

    # ranks (1,2,3,4) vs (1,3,2,4): Σd² = 2, ρ = 1 − 6·2/(4·15) = 0.8; the NaN pair is dropped
    r = spearman([1.0, 2.0, 3.0, 4.0, float("nan")], [10.0, 30.0, 20.0, 40.0, 5.0])
    assert r["n"] == 4 and abs(r["rho"] - 0.8) < 1e-12
    assert math.isnan(spearman([1.0, 2.0], [2.0, 1.0])["rho"])
