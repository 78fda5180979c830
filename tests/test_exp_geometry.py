"""The ``geometry`` experiment: its grid, its analysis of tiny real runs against an independent computation
from the stored snapshots of E (represented features counted and D_i computed by hand), α on synthetic
curves with a known exponent, the checks' rule, its figure and report section, and `--only geometry` end
to end (run only on request in quick and full mode)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn import figures
from supdyn.cli import main
from supdyn.cli.reproduce import _clean, _json_default, selected
from supdyn.experiments.geometry import _pairwise
from supdyn.report.geometry import section, table_rows
from supdyn.store import Store, StoredRun
from supdyn.sweep import ensure
from supdyn.train import run_steps


def _result(exp, runs, mode="smoke"):
    return _clean(json.loads(json.dumps(exp.analyze(runs, mode), default=_json_default)))


def _hand_dims(e: np.ndarray) -> np.ndarray:
    """D_i by the definition, one feature at a time: ‖E_i‖² / Σ_j (E_i/‖E_i‖ · E_j)²."""
    out = np.zeros(e.shape[1])
    for i in range(e.shape[1]):
        ni = math.sqrt(sum(float(v) ** 2 for v in e[:, i]))
        if ni == 0:
            continue
        s = sum((float(e[:, i] @ e[:, j]) / ni) ** 2 for j in range(e.shape[1]))
        out[i] = ni ** 2 / s
    return out


def test_quick_grid_is_the_issue_s():
    cfgs = ex.get("geometry").configs("quick")
    assert {c.variant for c in cfgs} == {"learnable"} and {c.model.d_hidden for c in cfgs} == {128}
    assert {c.data.n_features for c in cfgs} == {1024} and {c.data.a for c in cfgs} == {1.1, 1.5}
    assert {c.data.correlation for c in cfgs} == {"none", "cooccur", "exclusive"}
    assert {c.train.weight_decay for c in cfgs} == {0.0, 3e-4} and {c.seed for c in cfgs} == {0, 1}
    assert {run_steps(c) for c in cfgs} == {10_000} and len(cfgs) == 12
    assert {c.data.a for c in cfgs if c.data.correlation != "none"} == {1.1}
    assert all({1e3, 1e4} <= set(c.train.snapshots) for c in cfgs)
    full = ex.get("geometry").configs("full")
    assert {c.seed for c in full} == {0, 1, 2} and {c.data.a for c in full} == {1.1, 1.5, 2.0}
    assert len(full) == 3 * 3 * 3 * 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    exp = ex.get("geometry")
    cfgs = [c for c in exp.configs("smoke") if c.data.a == 1.1 and c.data.correlation == "none"]
    store = Store(tmp_path_factory.mktemp("geo") / "store")
    runs = ensure(cfgs, store, progress=False)
    return exp, runs


def test_analysis_of_real_runs_matches_a_hand_computation(tiny):
    exp, runs = tiny
    result = _result(exp, runs)
    assert len(result["rows"]) == 2  # weight decay 0 and 3e-3, 2 seeds each
    own, shared = result["own_direction"], result["shared_below"]
    for row in result["rows"]:
        members = [r for r in runs if r.config.train.weight_decay == row["weight_decay"]]
        assert len(members) == 2 and row["n_geometry"] == 2
        n_end, d_mean, f_own, f_shared, n_dec, n_t = [], [], [], [], [], []
        for r in members:
            enc, dec = r.snapshots["enc"], r.snapshots["dec"]  # (n_snap, K, N)
            norms = [[math.sqrt(sum(float(v) ** 2 for v in e[:, i])) for i in range(e.shape[1])] for e in enc]
            n_t.append([sum(n >= 0.5 for n in nn) for nn in norms])
            rep = np.array(norms[-1]) >= 0.5
            d = _hand_dims(enc[-1])[rep]
            n_end.append(int(rep.sum()))
            n_dec.append(int((np.linalg.norm(dec[-1], axis=0) >= 0.5).sum()))
            d_mean.append(d.mean())
            f_own.append(np.mean(d >= own))
            f_shared.append(np.mean(d < shared))
        assert row["n_rep_end"]["mean"] == pytest.approx(np.mean(n_end))
        assert row["n_rep_end"]["seeds"] == pytest.approx(n_end)
        assert row["n_rep_other"]["mean"] == pytest.approx(np.mean(n_dec))
        assert row["n_rep_t"] == pytest.approx(np.mean(n_t, axis=0).tolist())
        assert row["d_mean"]["mean"] == pytest.approx(np.mean(d_mean), rel=1e-6)  # snapshots are float32
        assert row["frac_own"]["mean"] == pytest.approx(np.mean(f_own))
        assert row["frac_shared"]["mean"] == pytest.approx(np.mean(f_shared))
        assert row["snapshot_t"] == pytest.approx([1.0, 10.0, 100.0])
        assert sum(row["d_hist"]) == sum(n_end)  # every represented feature of both seeds is in the histogram
        assert row["sum_d"]["max"] <= row["K"] + 1e-6


def test_alpha_is_recovered_from_a_known_power_law(tiny):
    exp, runs = tiny
    fake = []
    for r in runs:
        t = np.asarray(r.t, dtype=float)
        loss = np.where(t > 0, 0.3 * (1 + 0.05 * r.config.seed) * np.maximum(t, 1e-12) ** -0.7 + 0.002, 0.5)
        fake.append(StoredRun(r.run_id, r.config, {**r.arrays, "loss": loss}, r.meta))
    result = _result(exp, fake)
    for row in result["rows"]:
        assert row["fit"]["alpha"] == pytest.approx(0.7, abs=0.02)
        assert row["fit"]["L0"] == pytest.approx(0.002, abs=5e-4)


def test_diverged_runs_are_left_out_of_the_geometry(tiny):
    exp, runs = tiny
    masked = [r.masked() if r.config.seed == 1 else r for r in runs]
    result = _result(exp, masked)
    assert all(row["n_geometry"] == 1 and len(row["n_rep_end"]["seeds"]) == 1 for row in result["rows"])


def _row(a, corr, wd, values):
    v = [float(x) for x in values]
    return {"a": a, "correlation": corr, "weight_decay": wd,
            "n_rep_end": {"mean": float(np.mean(v)), "min": min(v), "max": max(v)}}


def test_the_checks_rule_separates_holds_inconclusive_and_does_not_hold():
    def outcome(x, y):
        rows = [_row(1.1, "exclusive", 0.0, x), _row(1.1, "cooccur", 0.0, y)]
        (c,) = _pairwise(rows, "x", "s", lambda r: r["correlation"] == "exclusive",
                         lambda r: r["correlation"] == "cooccur", ("a", "weight_decay"), "n_rep_end", smaller=False)
        return c["outcome"]

    assert outcome([10, 12], [7, 9]) == "holds"  # every seed above every seed
    assert outcome([8, 14], [7, 9]) == "inconclusive"  # means ordered, ranges overlap
    assert outcome([7, 8], [7, 9]) == "does not hold"
    rows = [_row(1.1, "none", 3e-4, [3, 4]), _row(1.1, "none", 0.0, [9, 9]),
            _row(2.0, "none", 3e-4, [9, 10]), _row(2.0, "none", 0.0, [9, 9])]
    (c,) = _pairwise(rows, "wd", "s", lambda r: r["weight_decay"] > 0, lambda r: r["weight_decay"] == 0,
                     ("a", "correlation"), "n_rep_end", smaller=True)
    assert c["outcome"] == "does not hold" and c["n_pairs"] == 2  # one pair holds, the other does not


def test_figure_and_section_from_the_real_result(tiny, tmp_path):
    exp, runs = tiny
    result = _result(exp, runs)
    files = figures.draw("geometry", result, tmp_path)
    assert {f.suffix for f in files} == {".png", ".pdf"} and all(f.stat().st_size > 5000 for f in files)
    title, body = section(result)
    assert "our checks" in title and len(table_rows(result)) == 2
    assert body.count("<tr>") == 1 + len(result["checks"]) + 1 + 2
    assert exp.claims(result) == []  # checks, not claims of the paper


def test_it_runs_only_on_request_and_end_to_end_with_only(tmp_path):
    assert "geometry" in ex.NAMES and "geometry" in ex.ON_REQUEST
    assert "geometry" not in selected(None, "quick") and "geometry" not in selected(None, "full")
    assert "geometry" in selected(None, "smoke") and selected("geometry", "quick") == ["geometry"]
    out = tmp_path / "out"
    rc = main(["reproduce", "--smoke", "--only", "geometry", "--out", str(out), "--store", str(tmp_path / "s"),
               "--no-progress"])
    assert rc == 0
    result = json.loads((out / "results" / "geometry.json").read_text())
    assert len(result["rows"]) == 6 and all(r["n_geometry"] == 2 for r in result["rows"])
    assert (out / "figures" / "geometry.png").stat().st_size > 5000 and (out / "figures" / "geometry.pdf").is_file()
    page = (out / "report.html").read_text()
    assert "Feature geometry of learned embeddings (our checks)" in page and "id='geometry'" in page
