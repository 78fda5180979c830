"""The options a user of the tied student needs, against independent oracles: the loss averaged over
outputs (torch's MSELoss, autograd), values v ~ U(0, c) in both samplers and in the exact loss, the
N(0, 1/K) embedding and the Gaussian bias at t = 0, and the tied student's snapshots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supdyn.config import from_dict
from supdyn.data import sample, stream_seed, torch_generator
from supdyn.data.static_sampler import StaticSampler, to_sparse
from supdyn.model import build_student, loss_and_grads, population_loss, run_embedding, sampled_loss, static_grads


def _cfgs(variant, m=2, **kw):
    return [from_dict({"n_features": 40, "d_hidden": 40 if variant == "none" else 8, "variant": variant,
                       "init_scale": 0.3, "a": 0.9, "seed": s, **kw}) for s in range(m)]


def _dense_y(variant, params, fixed, xd):
    if variant == "tied":
        return torch.relu(xd @ params["WT"] @ params["WT"].transpose(1, 2) + params["bias"][:, None, :])
    if variant == "none":
        return xd @ params["BT"]
    enc = params["encT"].transpose(1, 2) if variant == "learnable" else fixed["W"]
    dec = params["dec"] if variant == "learnable" else fixed["W"]
    y = xd @ enc.transpose(1, 2) @ params["B"].transpose(1, 2) @ dec
    return y if variant == "linear" else torch.relu(y + params["bias"][:, None, :])


@pytest.mark.parametrize("variant", ["tied", "fixed", "none"])
def test_mean_loss_is_torch_mse_loss_with_its_gradients(variant):
    st = build_student(_cfgs(variant, loss_reduction="mean", bias_init_scale=0.0 if variant == "none" else 0.5),
                       dtype=torch.float64)
    assert st.loss_scale == 2 / 40
    x = sample(st.p, 64, [torch_generator(1), torch_generator(2)], torch.float64)
    loss, grads = loss_and_grads(st, x)
    params = {k: v.clone().requires_grad_(True) for k, v in st.params.items()}
    xd = x.dense()
    ref = torch.stack([torch.nn.functional.mse_loss(y, t) for y, t in
                       zip(_dense_y(variant, params, st.fixed, xd), xd * st.teacher[:, None, :])])
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-14)
    ref.sum().backward()
    for k in grads:
        torch.testing.assert_close(grads[k], params[k].grad, rtol=1e-9, atol=1e-14)
    ev, _ = sampled_loss(st, x, chunk=17)
    torch.testing.assert_close(ev, ref.detach(), rtol=1e-10, atol=1e-14)
    s = StaticSampler(st.p, st.teacher, 64, [3, 4], torch.float64)
    xs = s.draw(torch.tensor(0), 1)
    sl, _, _ = static_grads(st, xs, 0, s.rows, 64)
    sl_ref, _ = loss_and_grads(st, to_sparse(xs, 0, 2, s.rows, 40, 64))
    torch.testing.assert_close(sl, sl_ref, rtol=1e-10, atol=1e-14)


def test_values_scale_in_both_samplers():
    p = torch.tensor(np.full((2, 30), 0.2))
    plain = sample(p, 500, [torch_generator(5), torch_generator(6)], torch.float64)
    scaled = sample(p, 500, [torch_generator(5), torch_generator(6)], torch.float64, vmax=[2.0, 1.0])
    first = plain.model == 0
    assert torch.equal(scaled.row, plain.row) and torch.equal(scaled.value[first], 2.0 * plain.value[first])
    assert torch.equal(scaled.value[~first], plain.value[~first])
    teacher = torch.ones(2, 30, dtype=torch.float64)
    a = StaticSampler(p, teacher, 500, [7, 8], torch.float64).draw(torch.tensor(3), 2)
    b = StaticSampler(p, teacher, 500, [7, 8], torch.float64, vmax=[2.0, 1.0]).draw(torch.tensor(3), 2)
    cap = a.value.shape[1] // 2
    assert torch.equal(b.value[:, :cap], 2.0 * a.value[:, :cap]) and torch.equal(b.value[:, cap:], a.value[:, cap:])
    assert torch.equal(b.target, b.value)  # teacher 1: y* = x
    v = scaled.value[first]
    assert 0 < v.min() and v.max() < 2 and abs(float(v.mean()) - 1.0) < 0.03  # U(0, 2): mean 1


def test_exact_loss_with_scaled_values_matches_sampling():
    (cfg,) = _cfgs("linear", m=1, value_max=2.0)
    st = build_student([cfg], dtype=torch.float64)
    loss, _ = population_loss(st)
    big = sample(st.p, 200_000, [torch_generator(9)], torch.float64, vmax=[2.0])
    mc, _ = sampled_loss(st, big, chunk=50_000)
    assert mc.item() == pytest.approx(loss.item(), rel=0.02)
    plain = build_student([cfg.replace(value_max=1.0)], dtype=torch.float64)
    assert loss.item() > 3 * population_loss(plain)[0].item()  # E[x²] grows 4-fold


def test_initializations():
    (c,) = _cfgs("tied", m=1, n_features=400, d_hidden=16, embedding_init="gaussian", bias_init_scale=1.0)
    gen = torch_generator(stream_seed(0, "embedding"))
    w = torch.randn(16, 400, generator=gen, dtype=torch.float64) / 4.0  # N(0, 1/K), K = 16
    torch.testing.assert_close(run_embedding(c), w, rtol=0, atol=0)
    st = build_student([c], dtype=torch.float64)
    torch.testing.assert_close(st.params["WT"][0], w.T)
    b = st.params["bias"][0]
    assert abs(float(b.std()) - 1.0) < 0.1 and abs(float(b.mean())) < 0.15
    assert st.snapshot()["W"].shape == (1, 16, 400)
    fixed = _cfgs("fixed", m=1)[0]  # a Gaussian bias is drawn after B: B(0) does not change
    b0 = build_student([fixed]).params["B"]
    with_bias = build_student([fixed.replace(bias_init_scale=0.5)])
    assert torch.equal(with_bias.params["B"], b0) and float(with_bias.params["bias"].abs().min()) > 0
