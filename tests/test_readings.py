"""Readings of the paper's unstated choices: the list, its configs, the report section, end to end."""

import json
import math
import time

import numpy as np
import pytest

from supdyn import experiments as ex
from supdyn import figures
from supdyn.config import DataConfig
from supdyn.data import frequencies, second_moment
import supdyn.experiments.readings as rd
from supdyn.experiments.base import CLAIM_VERDICTS, STATED
from supdyn.report.readings import readings_section, sentences, claim_table


def test_stated_first_names_unique_and_file_safe():
    assert rd.READINGS[0] is STATED
    assert ex.READINGS is rd.READINGS
    names = [r.name for r in rd.READINGS]
    assert len(set(names)) == len(names)
    assert all("/" not in n and " " not in n for n in names)
    assert rd.STATED_EQUIVALENT not in names  # STATED stands for it, not a duplicate


def test_readings_cross_every_choice():
    combos = {(r.overrides.get("normalize", "sum"), r.lr_factor, r.overrides.get("init_scale", 1e-3), r.fit_offset)
              for r in rd.READINGS}
    assert len(combos) == len(rd.READINGS) == 16
    assert {c[0] for c in combos} == {"sum", "none"}
    assert {c[1] for c in combos} == {1.0, 0.5}
    assert {c[3] for c in combos} == {True, False}
    assert sum(rd.needs_runs(r) for r in rd.READINGS) == 8  # L0-pinned readings reuse the runs


@pytest.mark.parametrize("reading", rd.READINGS, ids=lambda r: r.name)
@pytest.mark.parametrize("mode", ["smoke", "readings", "quick"])
def test_every_reading_builds_valid_configs(reading, mode):
    for name in ex.NAMES:
        exp = ex.get(name)
        cfgs = exp.configs(mode, reading)
        assert len({c.run_id for c in cfgs}) == len(cfgs)
        for c in cfgs:
            # exclusive groups need sum p <= 1 in every group: their runs keep sum p = 1 under every reading
            want = "sum" if c.data.correlation == "exclusive" else reading.overrides.get("normalize", "sum")
            assert c.data.normalize == want
            assert c.model.init_scale == reading.overrides.get("init_scale", 1e-3)
            frequencies(c.data)  # every p_i in [0, 1]
        base = exp.configs(mode, STATED)
        if reading.lr_factor == 1.0 or not base:
            continue
        same = {c.replace(lr=1.0, normalize="sum", init_scale=1e-3).run_id: c.train.lr for c in base}
        for c in cfgs:
            key = c.replace(lr=1.0, normalize="sum", init_scale=1e-3).run_id
            if key in same:
                assert math.isclose(c.train.lr, same[key] * reading.lr_factor)


def test_lambda_max_matches_eigvalsh_and_eq7_is_stiffer():
    for norm in ("sum", "none"):
        for a in (1.1, 2.0):
            p = frequencies(DataConfig(n_features=512, a=a, normalize=norm))
            want = np.linalg.eigvalsh(second_moment(p))[-1]
            assert rd.lambda_max_sigma(p) == pytest.approx(want, rel=1e-9)
    # the unnormalized reading (p_1 = 1) is ~7.5x stiffer at a = 1.1: why its lr is halved
    assert rd.hessian_scale(1.1, "none") / rd.hessian_scale(1.1, "sum") > 7
    assert rd.hessian_scale(1.1, "sum", 1024, 256) > 4 * rd.hessian_scale(1.1, "sum")


def _synthetic(readings):
    claims, results = [], {"fig5": {}}
    for i, r in enumerate(readings):
        alpha = 1.0 + 0.05 * i
        pts = [{"a": a, "b": b, "K": 256, "fit": {"alpha": alpha + 0.1 * (a - 1.1), "lo": alpha - 0.05,
                                                  "hi": alpha + 0.05}} for a, b in ((1.1, 0.0), (2.0, 0.0), (1.1, 0.5))]
        results["fig5"][r.name] = {"mode": "smoke", "points": pts}
        for cid, v in (("fig5_alpha_universal_a", CLAIM_VERDICTS[i % 4]), ("fig9_learned_count", "reproduced")):
            claims.append({"id": cid, "figure": "5a", "paper_value": "≈ 1", "measured": alpha,
                           "interval": [alpha - 0.1, alpha + 0.1], "verdict": v, "rule": "r", "details": "d",
                           "reading": r.name})
    claims.append({"id": "only_stated", "figure": "3", "paper_value": "x", "measured": None, "interval": None,
                   "verdict": "not tested", "rule": "r", "details": "", "reading": readings[0].name})
    return results, claims


def test_section_has_every_claim_reading_cell_and_a_figure(tmp_path):
    results, claims = _synthetic(rd.READINGS)
    files = figures.draw_readings(results, rd.READINGS, tmp_path / "figures")
    title, body = readings_section(tmp_path, results, claims, rd.READINGS, figure_files=files)
    assert "reading" in title.lower()
    assert body.count("class='rclaim'") == 3
    # every claim × reading cell is present (filled or "—")
    assert body.count("<td class='rv'") == 2 * len(rd.READINGS) + 1
    assert body.count("title='not evaluated'") == len(rd.READINGS) - 1
    for r in rd.READINGS:
        assert r.name in body
    png = tmp_path / "figures" / "readings_alpha.png"
    assert png.stat().st_size > 5000 and (tmp_path / "figures" / "readings_alpha.pdf").is_file()
    assert "src='figures/readings_alpha.png'" in body


def test_sentences_name_the_readings():
    rs = rd.READINGS[:4]
    _, claims = _synthetic(rs)
    ids, cells = claim_table(claims, rs)
    text = sentences(ids, cells, rs)
    assert text[0].startswith("The universal α ≈ 1") and rs[0].name in text[0]
    line = next(s for s in text if s.startswith("fig9_learned_count"))
    assert "reproduced under 4" in line


def test_section_survives_empty_results(tmp_path):
    title, body = readings_section(tmp_path, {}, [], [STATED])
    assert "Which reading" in title


@pytest.mark.slow  # 60-100 s on the shared 2-core machine
def test_reproduce_smoke_readings_end_to_end(tmp_path):
    from supdyn.cli import main

    names = [n for n in ("fig5", "fig9") if n in ex.NAMES]
    t0 = time.perf_counter()
    rc = main(["reproduce", "--smoke", "--readings", "--only", ",".join(names), "--out", str(tmp_path / "out"),
               "--store", str(tmp_path / "store"), "--no-progress"])
    assert rc == 0
    doc = json.loads((tmp_path / "out" / "claims.json").read_text())
    seen = {c["reading"] for c in doc["claims"]}
    assert seen == {r.name for r in rd.READINGS}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Which reading reproduces the paper" in page
    assert (tmp_path / "out" / "figures" / "readings_alpha.png").is_file()
    assert time.perf_counter() - t0 < 300
