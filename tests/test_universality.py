"""The universality experiment (issue 18): its analysis on curves with known exponents (late plateau,
local exponent above it, longest range of constant exponent, against closed forms and a brute-force
search), its pre-registered decision rule on synthetic tables (universal / refuted / inconclusive), the
run ids of its two sweep halves, the GPU cost model, and a smoke run end to end (reproduce, figure,
report section, page)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn.cli.reproduce import _clean, _json_default, selected
from supdyn.config import load_spec
from supdyn.experiments.universality import decide, point_status, required_grid
from supdyn.fit import excess_exponent, late_plateau, local_exponent, longest_range, mean_over
from supdyn.store import StoredRun
from supdyn.train import eval_steps, times_of

ROOT = Path(__file__).resolve().parents[1]
T = np.logspace(0.0, 5.0, 101)  # 1 .. 1e5, 20 points per decade


# -- the analysis on known curves ---------------------------------------------------------------------

def test_power_law_over_a_plateau_has_exponent_one_where_the_excess_is_measurable():
    c, l_inf = 1.0, 0.01
    loss = c / T + l_inf
    pl = late_plateau(T, loss, decades=0.3, flat_tol=0.02, smooth=0.3)
    assert pl.reached and pl.late_slope < 0.02
    assert pl.value == pytest.approx(l_inf, rel=2e-3)  # the last 0.3 decade: excess ≤ 0.2 %
    alpha = excess_exponent(T, loss, pl.value, smooth=0.3, min_excess=0.5)
    ok = np.isfinite(alpha)
    # measurable exactly where c/t ≥ 0.5 L∞ (t ≤ 200), within the plateau's error
    assert T[ok].max() == pytest.approx(200.0, rel=0.15) and T[ok].min() == 1.0
    assert np.allclose(alpha[ok], 1.0, atol=0.01)
    rng = longest_range(T, alpha, tol=0.1, min_decades=1.0)
    assert rng is not None and rng.t_lo == 1.0 and rng.decades == pytest.approx(math.log10(T[ok].max()))
    assert rng.value == pytest.approx(1.0, abs=0.01)
    # with the exact plateau the whole curve has exponent 1 (the oracle)
    exact = excess_exponent(T, loss, l_inf, smooth=0.3, min_excess=0.0)
    assert np.allclose(exact, 1.0, atol=1e-9)


def test_a_curve_still_falling_has_no_plateau_and_its_exponent_is_a_lower_bound():
    loss = 1.0 / T ** 0.7 + 1e-3
    pl = late_plateau(T, loss)
    assert not pl.reached and pl.late_slope > 0.02
    raw = local_exponent(T, loss, 0.0, smooth=0.3)
    true = local_exponent(T, loss, 1e-3, smooth=0.3)
    assert np.all(raw <= true + 1e-12)  # −t L'/(L − c) grows with c
    assert np.allclose(true, 0.7, atol=1e-9)


def test_a_kink_gives_the_longer_side_as_the_range():
    # t^-1 up to t = 100, then (continuously) 0.1 t^-0.5 to 1e5: 2 decades at 1, 3 decades at 0.5
    loss = np.where(T <= 100, 1.0 / T, 0.1 / np.sqrt(T))
    alpha = local_exponent(T, loss, 0.0, smooth=0.3)
    rng = longest_range(T, alpha, tol=0.1, min_decades=1.0)
    assert rng is not None
    assert rng.value == pytest.approx(0.5, abs=0.02) and rng.t_hi == pytest.approx(1e5)
    assert 100 <= rng.t_lo <= 100 * 10 ** 0.2  # starts within the smoothing half-width past the kink
    early = longest_range(T[T <= 100], alpha[T <= 100], tol=0.1, min_decades=1.0)
    assert early.value == pytest.approx(1.0, abs=0.02) and early.t_lo == 1.0 and early.t_hi <= 100
    assert longest_range(T, alpha, tol=0.1, min_decades=3.5) is None
    assert mean_over(T, alpha, 1e3, 1e5) == pytest.approx(0.5, abs=1e-6)


def _brute(x: np.ndarray, a: np.ndarray, tol: float) -> float:
    best = 0.0
    for i in range(a.size):
        for j in range(i, a.size):
            seg = a[i:j + 1]
            if not np.all(np.isfinite(seg)) or seg.max() - seg.min() > 2 * tol + 1e-12:
                break
            best = max(best, x[j] - x[i])
    return best


@pytest.mark.parametrize("seed", range(12))
def test_longest_range_equals_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    n = 60
    t = np.logspace(0, 3, n)
    a = np.cumsum(rng.normal(0, 0.06, n)) + 1.0
    a[rng.random(n) < 0.05] = np.nan
    got = longest_range(t, a, tol=0.1, min_decades=0.0)
    want = _brute(np.log10(t), a, 0.1)
    assert got is not None and got.decades == pytest.approx(want, abs=1e-9)
    assert got.hi - got.lo <= 0.2 + 1e-9


# -- the decision rule on synthetic tables ---------------------------------------------------------------

KEYS = [(a, b, n) for a in (1.1, 1.5, 2.0) for b in (0.0, 0.5) for n in ("sum", "none")]
NS = [1024, 4096]


def _points(value=lambda a, b, n, N: 1.0, half=0.03, bound=False):
    return [{"a": a, "b": b, "normalize": n, "N": N, "value": value(a, b, n, N), "lo": value(a, b, n, N) - half,
             "hi": value(a, b, n, N) + half, "bound": bound} for a, b, n in KEYS for N in NS]


def _decide(points):
    return decide(points, band=(0.85, 1.15), drift_tol=0.1, required_keys=KEYS, required_ns=NS)


def test_rule_universal_when_every_point_is_in_band_and_does_not_drift():
    d = _decide(_points(lambda a, b, n, N: 0.95 + 0.05 * (N == 4096)))
    assert d["decision"] == "universal" and d["complete"] and d["reasons"] == []


def test_rule_refuted_when_one_a_b_is_clearly_below_at_both_N_under_both_normalizations():
    d = _decide(_points(lambda a, b, n, N: 0.6 if (a, b) == (2.0, 0.0) else 1.0))
    assert d["decision"] == "refuted" and "(a=2, b=0)" in d["reasons"][-1]


@pytest.mark.parametrize("case, hint", [
    ("one_normalization", "other normalization"),  # clearly below, but only for Σp = 1
    ("drift", None),  # in band at both N, but drifts by 0.12
    ("straddles", "more seeds"),  # value outside, interval reaching the band
    ("bound", "longer runs"),  # plateau not reached: in-band lower bounds decide nothing
    ("missing_N", "pre-registered grid"),  # the larger N not run
    ("no_range", "longer runs"),
])
def test_rule_inconclusive_cases(case, hint):
    if case == "one_normalization":
        pts = _points(lambda a, b, n, N: 0.6 if (a, b, n) == (2.0, 0.0, "sum") else 1.0)
    elif case == "drift":
        pts = _points(lambda a, b, n, N: 0.9 + 0.12 * (N == 4096 and a == 1.5))
    elif case == "straddles":
        pts = _points(lambda a, b, n, N: 0.8 if a == 2.0 else 1.0, half=0.1)
    elif case == "bound":
        pts = _points(bound=True)
    elif case == "missing_N":
        pts = [p for p in _points() if p["N"] == 1024]
    else:
        pts = _points(lambda a, b, n, N: math.nan if a == 1.1 else 1.0)
    d = _decide(pts)
    assert d["decision"] == "inconclusive" and d["reasons"]
    if hint:
        assert any(hint in s for s in d["to_decide"])
    if case == "drift":
        assert any("drift" in s for s in d["reasons"])


def test_point_status():
    band = (0.85, 1.15)
    assert point_status({"value": 1.0, "lo": 0.9, "hi": 1.1}, band) == "in band"
    assert point_status({"value": 0.6, "lo": 0.55, "hi": 0.65}, band) == "below"
    assert point_status({"value": 0.6, "lo": 0.55, "hi": 0.65, "bound": True}, band) == "below (bound)"
    assert point_status({"value": 1.4, "lo": 1.3, "hi": 1.5, "bound": True}, band) == "above (bound)"
    assert point_status({"value": 0.6, "lo": math.nan, "hi": math.nan}, band) == "outside (straddles)"
    assert point_status({"value": math.nan}, band) == "no range"


# -- the experiment: grids, analysis of synthetic runs, halves, cost model ---------------------------------

def test_grids_and_on_request():
    e = ex.get("universality")
    keys, ns = required_grid(e.spec())
    assert sorted(keys) == sorted(KEYS) and ns == NS
    full = e.configs("full")
    assert len(full) == 180 and {c.train.t_max for c in full} == {1e5} and {c.train.lr for c in full} == {1.0}
    assert {c.train.eval_per_decade for c in full} == {20} and all(c.train.per_feature for c in full)
    assert {(c.data.n_features, c.model.d_hidden, c.variant) for c in full} == {
        (1024, 256, "fixed"), (1024, 128, "fixed"), (1024, 256, "linear"), (4096, 1024, "fixed"),
        (4096, 1024, "linear")}
    halves = [load_spec(ROOT / "examples" / f"universality_n{n}.toml")[0] for n in NS]
    assert {c.run_id for h in halves for c in h} == {c.run_id for c in full}
    interim = load_spec(ROOT / "examples" / "universality_interim.toml")[0]
    assert len(interim) == 18 and {c.run_id for c in interim} < {c.run_id for c in full}
    assert "universality" in ex.ON_REQUEST and "universality" not in selected(None, "quick")


def _fake(cfg, alpha: float, l_inf: float, seed_scale: float) -> StoredRun:
    steps = eval_steps(cfg)
    t = times_of(cfg, steps)
    loss = np.where(t > 0, 0.05 * seed_scale * np.maximum(t, 1e-12) ** -alpha + l_inf, 0.1)
    return StoredRun(cfg.run_id, cfg, {"t": t, "loss": loss, "steps": steps}, {"wall_time": 1.0})


def test_analysis_recovers_known_exponents_and_plateaus_of_the_pilot_grid():
    e = ex.get("universality")
    cfgs = e.configs("quick")
    truth = {c.run_id: 0.6 + 0.2 * c.data.a if c.variant == "fixed" else 0.5 for c in cfgs}
    runs = [_fake(c, truth[c.run_id], 0.0, 1 + 0.1 * c.seed) for c in cfgs]  # pure power laws: no plateau
    res = _clean(json.loads(json.dumps(e.analyze(runs, "quick"), default=_json_default)))
    assert len(res["groups"]) == 12 and len(res["theory"]) == 6
    for g in res["groups"]:
        want = 0.6 + 0.2 * g["a"] if g["variant"] == "fixed" else 0.5
        assert g["value"] == pytest.approx(want, abs=0.01) and g["lo"] <= want + 0.01 and g["hi"] >= want - 0.01
        assert g["bound"]  # no plateau reached: L∞ = 0 and the exponents are (here exact) lower bounds
        assert g["window_fit"]["alpha"] == pytest.approx(want, abs=0.02)
    assert res["decision"]["decision"] == "inconclusive" and res["pilot"]
    (claim,) = e.claims(res)
    assert claim.verdict in ("inconclusive", "not tested") and "inconclusive" in claim.details


def test_gpu_cost_model_is_the_stated_formula():
    from supdyn.sweep.estimate import H200_FP32_FLOPS, H200_ROOFLINE_FRACTION, gpu_model_seconds

    c = ex.get("universality").configs("full")[-1]
    assert (c.data.n_features, c.model.d_hidden) == (4096, 1024)
    n_eval = len(eval_steps(c))
    want = (1e5 + n_eval * 16384 / 1024 / 3) * 4 * 1024 * 4096 * 1024 / (H200_FP32_FLOPS * H200_ROOFLINE_FRACTION)
    assert gpu_model_seconds([c]) == pytest.approx(want, rel=1e-12)


# -- smoke: end to end ---------------------------------------------------------------------------------

def test_smoke_end_to_end(tmp_path, capsys):
    import subprocess
    import sys

    from supdyn.cli import main

    store, out = tmp_path / "store", tmp_path / "out"
    assert main(["reproduce", "--smoke", "--only", "universality", "--store", str(store), "--out", str(out),
                 "--no-progress", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "this CPU" in err and "one GPU (MODEL, not a measurement" in err and "SLURM" in err
    assert main(["reproduce", "--smoke", "--only", "universality", "--store", str(store), "--out", str(out),
                 "--no-progress", "--executor", "local"]) == 0
    res = json.loads((out / "results" / "universality.json").read_text())
    assert res["decision"]["decision"] == "inconclusive" and len(res["groups"]) == 8
    assert {p.name for p in (out / "figures").iterdir()} >= {"universality.png", "universality_halftimes.png",
                                                            "universality_spread.png"}
    page = (out / "report.html").read_text()
    assert "Is α ≈ 1 universal?" in page and "pre-registered" in page
    docs = tmp_path / "docs"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "universality_page.py"), "--from",
                        str(out / "results" / "universality.json"), "--docs", str(docs)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    md = (docs / "universality.md").read_text()
    assert "inconclusive" in md and "universality/universality.png" in md
    assert (docs / "universality" / "universality.png").stat().st_size > 5000
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "universality_page.py"), "--docs", str(docs)],
                           capture_output=True, text=True)
    assert again.returncode == 0 and (docs / "universality.md").read_text() == md  # rebuilt from the compact JSON


def test_stored_only_is_an_interim_look_that_trains_nothing(tmp_path, capsys):
    """``reproduce --stored-only`` analyzes the runs already stored, trains none, says in the result and
    the report how much of the grid it had, and leaves out (one line) an experiment whose analysis needs
    every run; with nothing to analyze it is one error line and exit 2."""
    from supdyn.cli import main
    from supdyn.store import Store
    from supdyn.sweep import run_sweep

    store, out = tmp_path / "store", tmp_path / "out"
    argv = ["reproduce", "--smoke", "--store", str(store), "--out", str(out), "--no-progress", "--stored-only"]
    assert main([*argv, "--only", "universality"]) == 2  # an empty store: nothing to analyze
    err = capsys.readouterr().err.splitlines()
    assert "universality left out: 0 of 16 runs stored (none stored)" in err[-2]
    assert err[-1].startswith("supdyn reproduce: error: --stored-only:") and not (out / "report.html").exists()
    part = [c for c in ex.get("universality").configs("smoke") if c.data.n_features == 64 and c.variant == "fixed"]
    assert len(part) == 4
    run_sweep(part, store, executor="local", progress=False)
    ids = sorted(p.name for p in store.iterdir() if not p.name.startswith("_"))
    fig3 = [c for c in ex.get("fig3").configs("smoke")][:1]
    run_sweep(fig3, store, executor="local", progress=False)
    assert main([*argv, "--only", "universality,fig3"]) == 0
    err = capsys.readouterr().err
    assert "universality analyzed from 4 of 16 runs" in err and "fig3 left out: 1 of" in err
    assert "4 run(s) stored, 0 to compute" in err and "estimated wall time" not in err
    assert "its analysis needs every run" in err
    after = sorted(p.name for p in store.iterdir() if not p.name.startswith("_"))
    assert len(after) == len(ids) + 1  # the fig3 run only: --stored-only trained nothing
    assert Store(store).missing(part) == []
    res = json.loads((out / "results" / "universality.json").read_text())
    assert res["interim"] == {"stored": 4, "planned": 16}
    assert {(g["N"], g["variant"]) for g in res["groups"]} == {(64, "fixed")}
    assert res["decision"]["decision"] == "inconclusive" and not (out / "results" / "fig3.json").exists()
    assert "INTERIM: analyzed from 4 of the 16 runs" in (out / "report.html").read_text()
    claim = next(c for c in json.loads((out / "claims.json").read_text())["claims"]
                 if c["id"] == "universality_alpha")
    assert "INTERIM: 4 of 16 runs" in json.dumps(claim)
    for g in res["groups"]:  # the exploratory peak slope: the largest −d log L/d log t of the seed-mean curve
        t, loss = np.array(g["t"]), np.array(g["loss_mean"])
        slope = -np.gradient(np.log(loss), np.log(t))
        pk = g["peak"]
        assert t[0] <= pk["t"] <= t[-1] and len(pk["seed_values"]) == 2
        assert pk["upper"] is None or pk["value"] <= pk["upper"]  # None: infinite (JSON has no inf)
        assert pk["value"] >= np.median(slope) - 0.05
