import numpy as np
import pytest
import torch

import supdyn.model.variants.encdec as model  # the encoder–decoder students: their sparse-path switches
from supdyn.config import from_dict
from supdyn.data import sample, second_moment, torch_generator
from supdyn.model import build_student, embedding, loss_and_grads, population_loss, sampled_loss


def _student(variant, n=24, k=8, m=2, init=0.3, dtype=torch.float64, device="cpu"):
    cfgs = [from_dict({"n_features": n, "d_hidden": n if variant == "none" else k, "variant": variant,
                       "init_scale": init, "a": 0.6, "b": 0.3, "seed": s}) for s in range(m)]
    st = build_student(cfgs, dtype=dtype, device=device)
    gens = [torch_generator(100 + s, device) for s in range(m)]
    x = sample(st.p, 32, gens, dtype)
    return st, x


def _reference_loss(variant, params, fixed, teacher, xd):
    """Dense textbook formula, differentiated by autograd (the oracle)."""
    ystar = xd * teacher[:, None, :]
    if variant == "none":
        y = xd @ params["BT"]  # y = B x  ⇔  Y = X Bᵀ
    else:
        enc = params["encT"].transpose(1, 2) if variant == "learnable" else fixed["W"]
        dec = params["dec"] if variant == "learnable" else fixed["W"]
        y = xd @ enc.transpose(1, 2) @ params["B"].transpose(1, 2) @ dec
        if variant != "linear":
            y = torch.relu(y + params["bias"][:, None, :])
    return 0.5 * ((ystar - y) ** 2).sum(dim=(1, 2)) / xd.shape[1]


@pytest.mark.parametrize("variant", ["none", "linear", "fixed", "learnable"])
@pytest.mark.parametrize("sparse_threshold", [0.0, 1.1])
def test_gradients_equal_autograd(variant, sparse_threshold, device, monkeypatch):
    monkeypatch.setattr(model, "SPARSE_ERROR_DENSITY", sparse_threshold)
    st, x = _student(variant, device=device)
    if "bias" in st.params:
        st.params["bias"].normal_(0.0, 0.3, generator=torch_generator(5, device))  # mix of on/off units
    loss, grads = loss_and_grads(st, x)
    params = {k: v.clone().requires_grad_(True) for k, v in st.params.items()}
    ref = _reference_loss(variant, params, st.fixed, st.teacher, x.dense())
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-12)
    ref.sum().backward()
    assert set(grads) == set(params)
    for k in grads:
        torch.testing.assert_close(grads[k], params[k].grad, rtol=1e-9, atol=1e-12)
    if variant in ("fixed", "learnable"):
        key = "sparse_backward" if sparse_threshold > 1 else "dense_backward"
        assert st.stats[key] == 1


def test_embedding_columns_have_unit_norm():
    w = embedding(300, 40, generator=torch_generator(0))
    assert w.shape == (40, 300)
    torch.testing.assert_close(w.norm(dim=0), torch.ones(300, dtype=torch.float64))
    assert not torch.equal(w, embedding(300, 40, generator=torch_generator(1)))


@pytest.mark.parametrize("variant", ["none", "linear"])
def test_population_loss_matches_trace_formula_and_sampling(variant):
    st, _ = _student(variant, n=16, k=6, m=1, init=0.5)
    loss, per = population_loss(st)
    m_map = st.matrix_B()[0] if variant == "none" else \
        st.fixed["W"][0].T @ st.params["B"][0] @ st.fixed["W"][0]
    d = m_map.numpy() - np.diag(st.teacher[0].numpy())
    sigma = second_moment(st.p[0].numpy())
    full = d @ sigma @ d.T
    assert loss.item() == pytest.approx(0.5 * np.trace(full), rel=1e-10)
    np.testing.assert_allclose(per[0].numpy(), 0.5 * np.diag(full), rtol=1e-10)
    big = sample(st.p, 200_000, [torch_generator(9)], torch.float64)
    mc, _ = sampled_loss(st, big, chunk=50_000)
    assert mc.item() == pytest.approx(loss.item(), rel=0.02)  # MC error ≈ 0.5% at 2e5 samples


def test_snapshot_shapes():
    st, _ = _student("learnable", n=20, k=5, m=3)
    snap = st.snapshot()
    assert snap["B"].shape == (3, 5, 5) and snap["enc"].shape == (3, 5, 20) and snap["dec"].shape == (3, 5, 20)
    np.testing.assert_allclose(snap["enc"], snap["dec"], rtol=1e-6)  # both start from W
