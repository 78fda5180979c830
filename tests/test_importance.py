"""The importance-weighted loss L = ½ Σ_i w_i E(y*_i − y_i)²: gradients of both steps against autograd on the
dense weighted formula, the evaluation losses against the dense formula, and the closed-form theory of
the student without superposition (supdyn.theory.general) against SGD and against ExactTheory at w = 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supdyn.config import ConfigError, from_dict
from supdyn.data import frequencies, importance_weights, sample, second_moment, teacher_diagonal, torch_generator
from supdyn.data.static_sampler import StaticSampler, to_sparse
from supdyn.model import build_student, loss_and_grads, population_loss, sampled_loss, static_grads
from supdyn.theory.exact import ExactTheory
from supdyn.theory.general import GeneralTheory
from supdyn.train import train

VARIANTS = ["none", "linear", "fixed", "learnable"]


def _student(variant, m=3, n=40, k=8):
    cfgs = [from_dict({"n_features": n, "d_hidden": n if variant == "none" else k, "variant": variant,
                       "init_scale": 0.3, "a": 1.1 + 0.2 * s, "b": 0.3, "seed": s,
                       **({"importance": "power", "importance_exponent": 0.5 + 0.4 * s} if s != 1 else {})})
            for s in range(m)]  # model 1 keeps uniform weights inside a weighted pack
    st = build_student(cfgs, dtype=torch.float64)
    if "bias" in st.params:
        st.params["bias"].normal_(0.0, 0.3, generator=torch_generator(5))
    return cfgs, st


def _dense_loss(st, params, xd):
    """½ Σ_i w_i (y*_i − y_i)² averaged over samples, y from the dense formulas."""
    if st.variant == "none":
        y = xd @ params["BT"]
    else:
        enc = params["encT"].transpose(1, 2) if st.variant == "learnable" else st.fixed["W"]
        dec = params["dec"] if st.variant == "learnable" else st.fixed["W"]
        y = xd @ enc.transpose(1, 2) @ params["B"].transpose(1, 2) @ dec
        if st.variant != "linear":
            y = torch.relu(y + params["bias"][:, None, :])
    err2 = (xd * st.teacher[:, None, :] - y) ** 2 * st.weights[:, None, :]
    return 0.5 * err2.sum(dim=(1, 2)) / xd.shape[1]


def test_weights_from_the_config():
    w = importance_weights(from_dict({"n_features": 8, "d_hidden": 4, "importance": "power",
                                      "importance_exponent": 2.0}).data)
    np.testing.assert_allclose(w, 1.0 / np.arange(1, 9) ** 2)
    assert importance_weights(from_dict({"n_features": 8, "d_hidden": 4}).data) is None
    assert from_dict({}).run_id == from_dict({"importance": "uniform"}).run_id != \
        from_dict({"importance": "power", "importance_exponent": 0.5}).run_id
    with pytest.raises(ConfigError, match="^importance: got 'log'; allowed: "):
        from_dict({"importance": "log"})
    with pytest.raises(ConfigError, match="^importance_diag: got 'negative or all-zero weights'"):
        from_dict({"n_features": 2, "d_hidden": 2, "importance": "user", "importance_diag": [0.0, 0.0]})


@pytest.mark.parametrize("variant", VARIANTS)
def test_weighted_gradients_equal_autograd_on_both_steps(variant):
    _, st = _student(variant)
    x = sample(st.p, 48, [torch_generator(100 + s) for s in range(3)], torch.float64)
    loss, grads = loss_and_grads(st, x)
    params = {k: v.clone().requires_grad_(True) for k, v in st.params.items()}
    ref = _dense_loss(st, params, x.dense())
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-13)
    ref.sum().backward()
    for k in grads:
        torch.testing.assert_close(grads[k], params[k].grad, rtol=1e-9, atol=1e-13)
    s = StaticSampler(st.p, st.teacher, 1024, [7, 8, 9], torch.float64)  # rows < batch: empty samples
    xs = s.draw(torch.tensor(3), 1)
    sl, sd, sr = static_grads(st, xs, 0, s.rows, 1024)
    ref_loss, ref_grads = loss_and_grads(st, to_sparse(xs, 0, 3, s.rows, st.n_features, 1024))
    torch.testing.assert_close(sl, ref_loss, rtol=1e-10, atol=1e-13)
    for name, (idx, val) in sr.items():
        p = st.params[name]
        sd[name] = torch.zeros(p.numel() // p.shape[-1], p.shape[-1], dtype=p.dtype).index_add_(0, idx, val).view(p.shape)
    for k in ref_grads:
        torch.testing.assert_close(sd[k], ref_grads[k], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("variant", VARIANTS)
def test_weighted_evaluation_losses(variant):
    _, st = _student(variant, m=2)
    x = sample(st.p, 800, [torch_generator(7), torch_generator(8)], torch.float64)
    loss, per = sampled_loss(st, x, chunk=300)
    params = dict(st.params)
    torch.testing.assert_close(loss, _dense_loss(st, params, x.dense()), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(per.sum(-1), loss)
    if variant in ("none", "linear"):
        exact, per_exact = population_loss(st)
        unweighted = build_student([c for c in _student(variant, m=2)[0]], dtype=torch.float64)
        unweighted.weights = None
        torch.testing.assert_close(per_exact, population_loss(unweighted)[1] * st.weights)


def test_general_theory_is_exact_theory_at_unit_weights():
    cfg = from_dict({"n_features": 64, "d_hidden": 64, "a": 1.3, "b": 0.2})
    p, a = frequencies(cfg.data), teacher_diagonal(cfg.data)
    t = np.array([0.0, 1.0, 30.0, 1e3, 1e5])
    np.testing.assert_allclose(GeneralTheory(second_moment(p), a).loss(t),
                               ExactTheory(p, a, method="eigh").loss(t), rtol=1e-9)


def test_sgd_tracks_the_weighted_theory():
    """Online SGD (lr 0.5, batch 1024, B(0) = 0) against the weighted gradient flow: max |log(L_SGD/L_th)|
    ≤ 0.05 over t ∈ [10, 1e3], N = 128, w_i = i^-0.7 (rates w_i λ_i: the rare outputs learn later still).
    (At lr 2 the discreteness of the fastest mode gives ≈ 0.1 at t = 10: the weighted loss puts more of
    its weight on that mode early on.)"""
    cfg = from_dict(dict(n_features=128, d_hidden=128, lr=0.5, batch=1024, t_max=1e3, init_scale=0.0, a=1.5,
                         importance="power", importance_exponent=0.7))
    (r,) = train([cfg], progress=False)
    th = GeneralTheory(second_moment(frequencies(cfg.data)), teacher_diagonal(cfg.data),
                       importance_weights(cfg.data)).loss(r.t)
    keep = (r.t >= 10) & (r.t <= 1e3)
    dev = np.max(np.abs(np.log(r.loss[keep] / th[keep])))
    assert dev <= 0.05, dev
    unweighted = GeneralTheory(second_moment(frequencies(cfg.data)), teacher_diagonal(cfg.data)).loss(r.t)
    assert np.max(np.abs(np.log(r.loss[keep] / unweighted[keep]))) > 0.2  # the weights matter
