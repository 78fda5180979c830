"""The static engine where it is meant to run: CUDA (``pytest -m cuda``; skipped without a GPU), plus the
CPU meaning of the ``tf32`` precision. On CUDA: no host synchronization inside the step loop (CUDA's
own sync detector), graphs equal eager launches, and TensorFloat-32 matmuls keep the science (the
linear-superposition theory at 5 %, and, slow, the fitted exponent α on [1e3, 1e4] within 0.03 of a
textbook autograd trainer fed the same batches)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from supdyn.config import from_dict
from supdyn.data import frequencies, teacher_diagonal
from supdyn.model import run_embedding
from supdyn.theory.linear_superposition import LinearSuperpositionTheory
from supdyn.train import StaticRunner, train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda: no CUDA GPU on this machine")


def _cfgs(variant="fixed", m=3, **kw):
    base = {"n_features": 256, "d_hidden": 256 if variant == "none" else 64, "variant": variant,
            "batch": 1024, "t_max": 200.0, "eval_size": 4096}
    return [from_dict({**base, "seed": s, "lr": 1.0 + 0.5 * s, **kw}) for s in range(m)]


def test_tf32_is_float32_on_the_cpu():
    c = _cfgs(m=1, t_max=20.0)[0]
    (a,), (b,) = (train([c.replace(dtype=d)], engine="static", progress=False) for d in ("float32", "tf32"))
    np.testing.assert_array_equal(a.loss, b.loss)


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["none", "linear", "fixed", "learnable"])
@pytest.mark.parametrize("graphs", [False, True])
def test_no_host_sync_in_the_cuda_step_loop(variant, graphs):
    run = StaticRunner(_cfgs(variant), torch.device("cuda"), graphs=graphs, steps_per_draw=4)
    with torch.no_grad():
        run.advance(5)  # capture (graphs) outside the checked region
        torch.cuda.synchronize()
        try:
            with warnings.catch_warnings():  # "a prototype feature": its warning is not our failure
                warnings.simplefilter("ignore", UserWarning)
                torch.cuda.set_sync_debug_mode("error")
            run.advance(9)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert int(run.state.step) == 14 and run.engine == ("static+graphs" if graphs else "static")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["none", "fixed", "learnable"])
def test_graphs_equal_eager_launches(variant):
    cfgs = _cfgs(variant)
    g = train(cfgs, device="cuda", progress=False, graphs=True)
    e = train(cfgs, device="cuda", progress=False, graphs=False)
    assert g[0].engine == "static+graphs" and e[0].engine == "static"
    for a, b in zip(g, e):  # same draws; scatter-add order may differ on CUDA
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-4)


@cuda
@pytest.mark.cuda
def test_tf32_linear_superposition_theory_equals_sgd():
    cfg = from_dict(dict(n_features=256, d_hidden=64, variant="linear", lr=0.5, batch=1024, t_max=1e3,
                         init_scale=0.0, a=1.5, b=0.0, dtype="tf32"))
    (r,) = train([cfg], device="cuda", progress=False)
    theory = LinearSuperpositionTheory(run_embedding(cfg).numpy(), frequencies(cfg.data),
                                       teacher_diagonal(cfg.data)).loss(r.t)
    rel = np.abs(r.loss / theory - 1.0)
    print(f"tf32 linear superposition: max relative deviation from theory {rel.max():.4f}")
    assert rel.max() <= 0.05 and r.loss[-1] < 0.9 * r.loss[0]


@cuda
@pytest.mark.cuda
@pytest.mark.slow
def test_static_engine_keeps_the_fitted_exponent_in_float32_and_tf32():
    from test_speed_science import _alpha, _naive_curve

    cfg = from_dict({"d_hidden": 256, "a": 1.1, "b": 0.0, "t_max": 1e4})  # defaults: lr 1, batch 1024
    alphas = {}
    for dtype in ("float32", "tf32"):
        (r,) = train([cfg.replace(dtype=dtype)], device="cuda", progress=False)
        alphas[dtype] = _alpha(r.t, r.loss)
    t = r.t[r.t >= 1e3]
    alphas["naive"] = _alpha(t, _naive_curve(cfg, t, "cuda", "static"))
    print("alpha on [1e3, 1e4] (static engine, CUDA): " + ", ".join(f"{k} {v:.4f}" for k, v in alphas.items()))
    assert abs(alphas["float32"] - alphas["naive"]) < 0.03
    assert abs(alphas["tf32"] - alphas["naive"]) < 0.03
