"""End to end: `supdyn reproduce --smoke` computes, draws, reports; a second run is cached;
the report renders in headless Chromium with every figure and every claim row."""

import json
import math
import re
import shutil
import subprocess
import time

import pytest

from supdyn import experiments as ex
from supdyn.cli import main
from supdyn.cli.reproduce import sweep_with_fallback
from supdyn.experiments.base import CHECK_VERDICTS, CLAIM_VERDICTS
from supdyn.store import Store, meta_checksum


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    out, store = root / "out", root / "store"
    t0 = time.perf_counter()
    rc = main(["reproduce", "--smoke", "--out", str(out), "--store", str(store), "--no-progress"])
    first = time.perf_counter() - t0
    return {"rc": rc, "out": out, "store": store, "first": first}


def test_smoke_reproduction_writes_every_figure_and_claim(smoke):
    assert smoke["rc"] == 0
    out = smoke["out"]
    doc = json.loads((out / "claims.json").read_text())
    claims, checks = doc["claims"], doc["checks"]
    assert claims and all(c["verdict"] in CLAIM_VERDICTS and c["kind"] == "claim" for c in claims)
    assert checks and all(c["verdict"] in CHECK_VERDICTS and c["kind"] == "check" for c in checks)
    assert all(c["rule"] and c["window"] is not None and c["reasons"] and c["interval_kind"]
               for c in claims + checks)
    # the tally counts every row once, by its verdict
    assert sum(doc["tally"]["claims"].values()) == len(claims) and sum(doc["tally"]["checks"].values()) == len(checks)
    assert {c["id"] for c in claims}.isdisjoint({c["id"] for c in checks})
    page = (out / "report.html").read_text()
    for name in ex.NAMES:
        assert (out / "results" / f"{name}.json").is_file()
        assert f"id='{name}'" in page
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs and all(p.stat().st_size > 5000 for p in pngs)
    assert len(re.findall(r'<tr class="claim"', page)) == len(claims)
    assert len(re.findall(r'<tr class="check"', page)) == len(checks)
    assert "id='tally'" in page and page.index("id='tally'") < page.index("id='claims'") < page.index("id='checks'")
    md = (out / "claims.md").read_text()
    assert all(f"`{c['id']}`" in md for c in claims + checks)


def test_second_run_is_cached(smoke, monkeypatch):
    import supdyn.sweep.tasks as sweep_mod

    def boom(*a, **k):
        raise AssertionError("a stored run was recomputed")

    monkeypatch.setattr(sweep_mod, "train", boom)
    n_before = len(Store(smoke["store"]).run_ids())
    rc = main(["reproduce", "--smoke", "--out", str(smoke["out"]), "--store", str(smoke["store"]),
               "--no-progress"])
    assert rc == 0 and len(Store(smoke["store"]).run_ids()) == n_before


def _chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed")
def test_report_renders_in_headless_chromium(smoke, tmp_path):
    page = smoke["out"] / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
             "--allow-file-access-from-files"]
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", page.as_uri()], check=True,
                         capture_output=True, timeout=120, text=True).stdout
    n_claims = len(json.loads((smoke["out"] / "claims.json").read_text())["claims"])
    assert 'data-images-loaded="true"' in dom
    n_checks = len(json.loads((smoke["out"] / "claims.json").read_text())["checks"])
    assert f'data-claims="{n_claims}"' in dom and f'data-checks="{n_checks}"' in dom
    n_png = len(list((smoke["out"] / "figures").glob("*.png")))
    assert f'data-images="{n_png}"' in dom


def test_diverged_run_is_left_out_of_fits_with_a_warning(smoke, tmp_path, capsys):
    """A run marked diverged in the store: reproduce warns, lists it in the report, and fig5's point
    for it has no fitted α (while the same run, not diverged, gave a finite one)."""
    before = json.loads((smoke["out"] / "results" / "fig5.json").read_text())
    store_dir = tmp_path / "store"
    shutil.copytree(smoke["store"], store_dir)
    store = Store(store_dir)
    cfg = ex.get("fig5").configs("smoke")[0]
    meta_path = store.path(cfg.run_id) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(diverged=True, diverged_t=12.5, diverged_step=25)  # as train() records a divergence
    meta["meta_sha256"] = meta_checksum(meta)  # and as the store signs it (a bare edit reads as corrupt)
    meta_path.write_text(json.dumps(meta))
    out = tmp_path / "out"
    capsys.readouterr()
    rc = main(["reproduce", "--smoke", "--only", "fig5", "--out", str(out), "--store", str(store_dir),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0
    assert f"run {cfg.run_id[:12]} (fig5) diverged at t = 12.5" in err and "left out of every fit" in err
    assert "Diverged runs" in (out / "report.html").read_text()
    after = json.loads((out / "results" / "fig5.json").read_text())

    def point(result):
        (p,) = [p for p in result["points"] if (p["a"], p["b"], p["K"]) ==
                (cfg.data.a, cfg.data.b, cfg.model.d_hidden)]
        return p

    assert math.isfinite(point(before)["fit"]["alpha"])
    p = point(after)
    alpha = p["fit"]["alpha"]  # NaN is written as null
    assert p["diverged"] and (alpha is None or not math.isfinite(alpha))
    others = [q for q in after["points"] if q is not p]
    assert others and all(math.isfinite(q["fit"]["alpha"]) for q in others)


@pytest.mark.parametrize("argv, cores, n_missing, expect", [
    (["--quick"], 2, 21, ("dask", 4)),             # the default quick run: a 2-worker LocalCluster
    (["--full", "--max-models", "8"], 16, 99, ("dask", 8)),
    (["--smoke"], 2, 21, ("local", "auto")),        # smoke stays in-process (CI); auto: 16 on the CPU
    (["--quick", "--executor", "local"], 2, 21, ("local", "auto")),
    (["--quick"], 1, 21, ("local", "auto")),        # one core: nothing to parallelize
    (["--quick"], 2, 1, ("local", "auto")),         # one run to compute: no cluster start-up
    (["--quick", "--device", "cuda"], 16, 21, ("local", "auto")),  # one process owns the GPU, packs by memory
])
def test_reproduce_executor_choice(argv, cores, n_missing, expect, monkeypatch, capsys):
    from supdyn.cli import build_parser
    from supdyn.cli import reproduce as rp

    monkeypatch.setattr(rp.os, "cpu_count", lambda: cores)
    args = build_parser().parse_args(["reproduce", *argv])
    kw, fallback = rp._executor_kwargs(args, args.mode, n_missing)
    assert (kw["executor"], kw["max_models"]) == expect
    assert (fallback is not None) == (expect[0] == "dask")
    if fallback is not None:  # the automatic cluster falls back to the options as parsed (this process)
        assert fallback["executor"] == "local" and fallback["max_models"] == (8 if "--max-models" in argv else "auto")
    assert kw["workers"] == 2
    assert ("LocalCluster" in capsys.readouterr().err) == (expect[0] == "dask")


def test_failed_local_cluster_falls_back_to_this_process(tmp_path, capsys):
    """If the automatic LocalCluster raises, the missing runs are computed locally (and only those);
    an explicitly chosen executor's error propagates."""
    cfgs = ex.get("fig7").configs("smoke")[:3]
    store = Store(tmp_path / "store")
    calls = []

    def fake_sweep(configs, st, *, progress, executor, max_models, **kw):
        calls.append((executor, max_models, len(configs)))
        if executor == "dask":
            from supdyn.sweep import run_sweep
            run_sweep(configs[:1], st, progress=False)  # one run finished before the cluster broke
            raise OSError("cannot bind a port")
        return "report"

    kw = {"executor": "dask", "max_models": 4, "workers": 2}
    local = {"executor": "local", "max_models": 16, "workers": 2}
    assert sweep_with_fallback(fake_sweep, cfgs, store, kw, local, progress=False) == "report"
    assert calls == [("dask", 4, 3), ("local", 16, 2)]
    assert "LocalCluster failed (OSError: cannot bind a port)" in capsys.readouterr().err
    with pytest.raises(OSError):
        sweep_with_fallback(fake_sweep, cfgs, store, kw, None, progress=False)
