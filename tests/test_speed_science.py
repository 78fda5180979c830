"""The fast paths compute the same thing as the textbook formulas, and speed did not change the science.

Fast tests: every code path of the optimized step (gather / dense forward × sparse / dense backward,
every variant, several models with padding, empty samples, active biases) against autograd on the
dense formula; the evaluation loss against the dense formula; the NumPy sampler against the torch
one (bit for bit); one ``train_step`` against a hand-made SGD update.
Slow test (``--runslow``): the fitted exponent α on t ∈ [1e3, 1e4] of the default K = 256 run
(optimized step, lr = 1) against a naive autograd trainer with lr = 0.25 over the same t range.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import supdyn.data.sampler as data
import supdyn.model.variants.encdec as model  # the encoder–decoder students: their sparse-path switches
from supdyn.config import RunConfig, from_dict
from supdyn.data import BatchStream, frequencies, sample, stream_seed, torch_generator
from supdyn.data.static_sampler import StaticSampler, StaticStream
from supdyn.model import build_student, compact, loss_and_grads, run_embedding, sampled_loss
from supdyn.train import train, train_step

VARIANTS = ["none", "linear", "fixed", "learnable", "tied"]


def _student(variant, n=40, k=8, m=3, batch=48, a=1.1, device="cpu"):
    cfgs = [from_dict({"n_features": n, "d_hidden": n if variant == "none" else k, "variant": variant,
                       "init_scale": 0.3, "a": a + 0.2 * s, "b": 0.3, "seed": s}) for s in range(m)]
    st = build_student(cfgs, dtype=torch.float64, device=device)
    if "bias" in st.params:  # a mix of units on and off, including for empty samples (ReLU(b) > 0)
        st.params["bias"].normal_(0.0, 0.3, generator=torch_generator(5, device))
    x = sample(st.p, batch, [torch_generator(100 + s, device) for s in range(m)], torch.float64)
    return st, x


def _dense_output(variant, params, fixed, xd):
    """y for dense x (n_models, batch, N): the formulas of the model docstring."""
    if variant == "none":
        return xd @ params["BT"]  # Y = X Bᵀ
    if variant == "tied":  # rows (Wᵀ W x_s + b)ᵀ, W = WTᵀ
        return torch.relu(xd @ params["WT"] @ params["WT"].transpose(1, 2) + params["bias"][:, None, :])
    enc = params["encT"].transpose(1, 2) if variant == "learnable" else fixed["W"]
    dec = params["dec"] if variant == "learnable" else fixed["W"]
    y = xd @ enc.transpose(1, 2) @ params["B"].transpose(1, 2) @ dec  # rows (Dᵀ B E x_s)ᵀ
    return y if variant == "linear" else torch.relu(y + params["bias"][:, None, :])


def _dense_loss(st, params, xd):
    ystar = xd * st.teacher[:, None, :]
    return 0.5 * ((ystar - _dense_output(st.variant, params, st.fixed, xd)) ** 2).sum(dim=(1, 2)) / xd.shape[1]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("forward", ["gather", "dense"])
@pytest.mark.parametrize("backward", ["sparse", "dense"])
def test_every_path_equals_autograd(variant, forward, backward, device, monkeypatch):
    monkeypatch.setattr(model, "GATHER_FORWARD_RATIO", np.inf if forward == "gather" else 0.0)
    monkeypatch.setattr(model, "SPARSE_ERROR_DENSITY", 1.1 if backward == "sparse" else -1.0)
    st, x = _student(variant, device=device)
    cx = compact(x, st.teacher)
    assert cx.n_rest > 0 and cx.U < x.n_features  # empty samples and inactive features exist
    loss, grads = loss_and_grads(st, x)
    params = {k: v.clone().requires_grad_(True) for k, v in st.params.items()}
    ref = _dense_loss(st, params, x.dense())
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-12)
    ref.sum().backward()
    assert set(grads) == set(params)
    for k in grads:
        torch.testing.assert_close(grads[k], params[k].grad, rtol=1e-9, atol=1e-12)
    if variant == "tied":  # its own forward choice (U ≤ R) and a dense backward
        assert st.stats["gather_forward"] + st.stats["dense_forward"] == 1 and st.stats["dense_backward"] == 1
    elif variant != "none":
        assert st.stats[f"{forward}_forward"] == 1
        assert st.stats[f"{backward}_backward"] == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_sampled_loss_equals_dense_formula(variant):
    st, _ = _student(variant, m=2)
    x = sample(st.p, 1000, [torch_generator(7), torch_generator(8)], torch.float64)
    xd = x.dense()
    ref = 0.5 * ((xd * st.teacher[:, None, :] - _dense_output(variant, st.params, st.fixed, xd)) ** 2)
    loss, per = sampled_loss(st, x, chunk=300)
    torch.testing.assert_close(per, ref.sum(1) / 1000, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(loss, ref.sum(dim=(1, 2)) / 1000, rtol=1e-10, atol=1e-14)


DENSE_P = (1.0, 0.97, 0.8, 0.76, 0.5, 0.05, 0.0)  # p > data.ROW_P: Bernoulli rows; the rest: counts


@pytest.mark.parametrize("a, batch, n_seeds", [(1.1, 1024, 3), (0.3, 64, 3), (2.5, 4096, 3), ("dense", 64, 40),
                                               ("dense", 1024, 40)])
def test_numpy_sampler_is_the_torch_sampler_bit_for_bit(a, batch, n_seeds):
    p = (torch.tensor(DENSE_P, dtype=torch.float64) if a == "dense"
         else torch.tensor(frequencies(from_dict({"a": a}).data)))
    for seed in range(n_seeds):
        g1, g2 = torch_generator(seed), torch_generator(seed)
        pos1, col1 = data._active_set_numpy(p, batch, g1)
        pos2, col2 = data._active_set_torch(p, batch, g2)
        assert torch.equal(pos1, pos2) and torch.equal(col1, col2)
        assert torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.parametrize("batch", [64, 1024])
def test_joint_numpy_sampler_is_the_per_model_torch_sampler(batch):
    """sample() on the CPU (one duplicate search for all models) equals, model by model, the torch
    active set followed by that model's float64 values; models differ in p, including dense features."""
    p = torch.stack([torch.tensor(frequencies(from_dict({"a": a}).data))[:len(DENSE_P)] for a in (0.3, 1.1)]
                    + [torch.tensor(DENSE_P, dtype=torch.float64), torch.zeros(len(DENSE_P), dtype=torch.float64)])
    for seed in range(10):
        seeds = [10 * seed + m for m in range(p.shape[0])]
        x = data.sample(p, batch, [torch_generator(s) for s in seeds], torch.float64)
        for m, s in enumerate(seeds):
            g = torch_generator(s)
            pos, col = data._active_set_torch(p[m], batch, g)
            val = torch.rand(col.shape, generator=g, dtype=torch.float64)
            mine = x.model == m
            assert torch.equal(x.row[mine] - m * batch, pos) and torch.equal(x.col[mine], col)
            assert torch.equal(x.value[mine], val)


@pytest.mark.parametrize("variant", VARIANTS)
def test_train_step_is_sgd_on_the_gradients(variant):
    st, _ = _student(variant, m=2)
    lr = torch.tensor([0.7, 0.0], dtype=torch.float64)  # the second model is frozen
    x = next(BatchStream(st.p, 48, [torch_generator(11), torch_generator(12)], torch.float64))
    before = {k: v.clone() for k, v in st.params.items()}
    loss, grads = loss_and_grads(st, x)
    bl = train_step(st, BatchStream(st.p, 48, [torch_generator(11), torch_generator(12)], torch.float64), lr)
    np.testing.assert_allclose(bl, loss.numpy(), rtol=1e-12)
    for k, g in grads.items():
        want = before[k] - lr.view(-1, *[1] * (g.dim() - 1)) * g
        torch.testing.assert_close(st.params[k], want, rtol=1e-12, atol=1e-14)


# --- slow: the science of the fast path against a naive reference -------------------------------


def _naive_curve(cfg: RunConfig, eval_t: np.ndarray, device: str = "cpu", engine: str = "sparse") -> np.ndarray:
    """Loss curve of a textbook trainer: dense x, autograd, ``torch.optim.SGD``, float32.

    Same W, same initial B, the run's data and evaluation streams (on ``device``, as ``train`` draws
    them there with ``engine``: a BatchStream for the sparse engine, the static sampler's batches for
    the static one); evaluated in float64 with the dense formula on the run's held-out set at ``eval_t``.
    """
    st = build_student([cfg], device=device)
    W = run_embedding(cfg).float().to(device)  # (K, N)
    B = torch.nn.Parameter(st.params["B"][0].clone())  # (K, K)
    bias = torch.nn.Parameter(torch.zeros(cfg.data.n_features, device=device))
    opt = torch.optim.SGD([B, bias], lr=cfg.train.lr)
    if engine == "static":
        batches = StaticStream(StaticSampler(st.p, st.teacher, cfg.train.batch, [stream_seed(cfg.seed, "train")],
                                             torch.float32))
    else:
        batches = BatchStream(st.p, cfg.train.batch, [torch_generator(stream_seed(cfg.seed, "train"), device)])
    xe = sample(st.p, cfg.train.eval_size, [torch_generator(stream_seed(cfg.seed, "eval"), device)],
                torch.float64)
    xe = xe.dense()[0]  # (eval_size, N)
    a = st.teacher[0]
    steps = np.round(eval_t / cfg.train.lr).astype(int)
    out = []
    for step in range(steps[-1] + 1):
        if step in steps:
            with torch.no_grad():
                y = torch.relu(xe @ W.double().T @ B.double().T @ W.double() + bias.double())
                out.append(float(0.5 * ((xe * a.double() - y) ** 2).sum(1).mean()))
        if step == steps[-1]:
            break
        x = next(batches).dense()[0]  # (batch, N)
        y = torch.relu(x @ W.T @ B.T @ W + bias)
        loss = 0.5 * ((x * a - y) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return np.array(out)


def _alpha(t, loss):
    try:
        from supdyn.fit import fit_power_law
    except ImportError:  # pragma: no cover - fit module not there yet
        return _local_alpha(t, loss)
    return fit_power_law(t, loss, (1e3, 1e4), offset=True).alpha


def _local_alpha(t, loss):  # pragma: no cover - fallback
    from scipy.optimize import least_squares

    keep = (t >= 1e3) & (t <= 1e4)
    lt, ll = np.log(t[keep]), np.log(loss[keep])
    res = least_squares(lambda q: np.log(np.exp(q[0] - q[1] * lt) + q[2]) - ll, [ll[0] + lt[0], 1.0, 0.0],
                        bounds=([-np.inf, 0, 0], [np.inf, 10, np.inf]))
    return res.x[1]


@pytest.mark.slow
def test_fast_path_keeps_the_fitted_exponent(device):
    fast_cfg = from_dict({"d_hidden": 256, "a": 1.1, "b": 0.0, "t_max": 1e4})  # defaults: lr 1, batch 1024
    (fast,) = train([fast_cfg], device=device, progress=False)
    slow_cfg = fast_cfg.replace(lr=0.25)
    t = fast.t[fast.t >= 1e3]
    slow_loss = _naive_curve(slow_cfg, t, device)
    a_fast, a_slow = _alpha(fast.t, fast.loss), _alpha(t, slow_loss)
    print(f"alpha on [1e3, 1e4] ({device}): optimized step lr 1: {a_fast:.4f}; "
          f"naive autograd lr 0.25: {a_slow:.4f}")
    assert abs(a_fast - a_slow) < 0.03


@pytest.mark.parametrize("engine", ["sparse", "static"])
def test_train_matches_naive_autograd_trainer_at_the_same_lr(device, engine):
    """The whole pipeline (sampler streams, step, update, evaluation) of each engine against the
    textbook trainer: same W, init, data and evaluation set, so the curves agree to float32 rounding."""
    cfg = from_dict({"n_features": 256, "d_hidden": 64, "t_max": 30.0, "eval_size": 4096})
    (r,) = train([cfg], device=device, progress=False, engine=engine)
    keep = r.t >= 1
    np.testing.assert_allclose(r.loss[keep], _naive_curve(cfg, r.t[keep], device, engine), rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_device_generic_paths_train_the_same_curve(variant, monkeypatch):
    """The torch code paths used on GPUs (the torch sampler and cut into steps, ``torch.nonzero``)
    forced on CPU tensors train the same curves as the NumPy paths, bit for bit: the same draws and
    the same indices, so the same arithmetic. (No GPU is needed to check their logic.)"""
    cfgs = [from_dict({"n_features": 64, "d_hidden": 64 if variant in ("none", "linear") else 16,
                       "variant": variant, "t_max": 40.0, "batch": 128, "eval_size": 512, "seed": s,
                       **({"normalize": "none"} if s else {})}) for s in range(2)]  # s = 1: p_1 = 1, dense path
    monkeypatch.setattr(model, "SPARSE_ERROR_DENSITY", 1.1)  # always the sparse backward (torch.nonzero)
    cpu = train(cfgs, progress=False)
    monkeypatch.setattr(data, "numpy_path", lambda t: False)  # the one switch of data and model
    generic = train(cfgs, progress=False)
    for a, b in zip(cpu, generic):
        np.testing.assert_array_equal(a.loss, b.loss)
