"""Two sweeps over overlapping specs started at the same time on one store: every run is stored
exactly once (one directory per run id, nothing left in _tmp, nothing moved to _corrupt), both
exit 0, and every stored run equals a clean recompute bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from supdyn.config import expand_grid, read_toml
from supdyn.store import Store
from supdyn.train import train

SPEC = """
[base]
n_features = 32
d_hidden = 8
batch = 64
eval_size = 256
t_max = 150.0

[grid]
seed = {seeds}
"""
DRIVER = ("import argparse, sys; from supdyn.cli import sweep; p = argparse.ArgumentParser(); "
          "sweep.add_parser(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")


def _spec(path: Path, seeds: list[int]) -> str:
    path.write_text(SPEC.format(seeds=seeds))
    return str(path)


def test_two_overlapping_sweeps_at_once_store_each_run_once(tmp_path):
    # the same first runs in the same order (both compute them at the same moment: the rename race),
    # then runs of one sweep only
    spec_a = _spec(tmp_path / "a.toml", [0, 1, 2, 3, 4, 5])
    spec_b = _spec(tmp_path / "b.toml", [0, 1, 2, 3, 6, 7])
    root = tmp_path / "store"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, "sweep", spec, "--store", str(root), "--max-models",
                               "1", "--json", "--no-progress"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for spec in (spec_a, spec_b)]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]
        rep = json.loads(out)
        assert rep["failed"] == [] and rep["n_runs"] == 6 and rep["n_cached"] + rep["n_computed"] == 6
        assert "Traceback" not in err
    cfgs = {c.run_id: c for spec in (spec_a, spec_b) for c in expand_grid(read_toml(spec))}
    assert len(cfgs) == 8
    entries = sorted(p.name for p in root.iterdir())
    assert entries == sorted([*cfgs, "_tmp"])  # one directory per run, no _corrupt, no _failed
    assert list((root / "_tmp").iterdir()) == []  # the loser of a race discards its copy
    store = Store(root)
    assert store.missing(list(cfgs.values())) == []  # every checksum holds
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for rid, cfg in cfgs.items():
            run = store.load(rid)
            assert sorted(p.name for p in store.path(rid).iterdir()) == ["arrays.npz", "config.json", "meta.json"]
            np.testing.assert_array_equal(run.loss, train([cfg], progress=False)[0].loss)
    finally:
        torch.set_num_threads(before)
