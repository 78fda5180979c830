"""Feature geometry (supdyn.fit.geometry) on hand-computed embeddings and its Σ D_i ≤ K property, a run's
geometries, and `supdyn plot --geometry`."""

import json

import numpy as np
import pytest

from supdyn.cli import main
from supdyn.config import from_dict
from supdyn.fit.geometry import dimensionality, geometry, run_geometries
from supdyn.model import run_embedding
from supdyn.store import Store
from supdyn.sweep import ensure


def test_dimensionality_of_hand_computed_embeddings():
    np.testing.assert_allclose(dimensionality(np.eye(3)), [1, 1, 1])  # own directions
    e = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # features 1 and 2 share a direction
    np.testing.assert_allclose(dimensionality(e), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(dimensionality(np.array([[1.0, -1.0, 0.0]])), [0.5, 0.5, 0.0])  # antipodal; a zero
    e = np.array([[1.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(dimensionality(e), [1.0, 1.0])  # orthogonal at any norm


def test_dimensions_sum_to_at_most_k():
    rng = np.random.default_rng(3)
    for _ in range(300):
        k, n = rng.integers(1, 6), rng.integers(1, 14)
        e = rng.normal(size=(k, n)) * rng.exponential(size=n)
        assert dimensionality(e).sum() <= k + 1e-9


def test_geometry_counts_represented_features():
    e = np.stack([np.diag([1.0, 0.4, 0.6]), np.diag([1.0, 0.0, 0.0])])  # (2 snapshots, K = 3, N = 3)
    g = geometry(np.array([1.0, 10.0]), e, "E")
    assert g.n_represented.tolist() == [2, 1]
    np.testing.assert_allclose(g.gram, np.diag([1.0, 0.0, 0.0]))


def test_run_geometries_and_the_plot(tmp_path, capsys):
    base = {"n_features": 32, "d_hidden": 8, "t_max": 20.0, "batch": 64, "eval_size": 256}
    learn = from_dict({**base, "variant": "learnable", "snapshots": [1.0, 20.0]})
    fixed = from_dict({**base, "variant": "fixed"})
    none = from_dict({**base, "d_hidden": 32, "variant": "none"})
    store = Store(tmp_path / "s")
    r_learn, r_fixed, r_none = ensure([learn, fixed, none], store, progress=False)
    e, d = run_geometries(learn, r_learn.snapshot_t, r_learn.snapshots)
    assert (e.which, d.which) == ("E", "D") and e.norms.shape == (2, 32)
    np.testing.assert_allclose(e.norms[0], np.linalg.norm(r_learn.snapshots["enc"][0], axis=0))
    (w,) = run_geometries(fixed, r_fixed.snapshot_t, r_fixed.snapshots)
    np.testing.assert_allclose(w.norms[0], np.linalg.norm(run_embedding(fixed).numpy(), axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="^variant: 'none' has no embedding"):
        run_geometries(none, r_none.snapshot_t, r_none.snapshots)
    out = tmp_path / "geo.png"
    assert main(["plot", "--geometry", r_learn.run_id[:12], "--store", str(store.root), "--out", str(out),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert out.exists() and out.with_suffix(".pdf").exists() and len(doc["geometry"]) == 2
    assert main(["plot", "--geometry", r_none.run_id[:12], "--store", str(store.root)]) == 2
    assert "has no embedding" in capsys.readouterr().err
