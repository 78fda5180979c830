import numpy as np
import pytest
import torch

from supdyn.config import from_dict
from supdyn.train import eval_steps, flush_denormals, train


def _cfg(**kw):
    base = {"n_features": 64, "d_hidden": 16, "t_max": 20.0, "batch": 128, "eval_size": 512}
    base.update(kw)
    return from_dict(base)


def test_eval_schedule():
    c = _cfg(t_max=1000.0, eval_per_decade=10)
    steps = eval_steps(c)
    assert steps[0] == 0 and steps[-1] == 1000
    assert np.all(np.diff(steps) > 0)
    t = steps * c.train.lr
    np.testing.assert_array_equal(t, np.unique(np.r_[0, np.round(10 ** (np.arange(31) / 10))]))
    c2 = _cfg(t_max=100.0, lr=4.0)
    assert eval_steps(c2)[-1] == 25


@pytest.mark.parametrize("variant", ["fixed", "none", "learnable"])
def test_batched_equals_alone(variant, device):
    kw = {"variant": variant, "d_hidden": 64 if variant == "none" else 16}
    cfgs = [_cfg(a=1.1, seed=0, **kw), _cfg(a=1.5, b=0.25, seed=1, **kw),
            _cfg(a=0.8, seed=2, lr=0.5, **kw), _cfg(a=1.2, seed=3, t_max=10.0, **kw)]
    together = train(cfgs, device=device, progress=False)
    for c, r in zip(cfgs, together):
        (alone,) = train([c], device=device, progress=False)
        np.testing.assert_allclose(r.loss, alone.loss, rtol=1e-5)
        np.testing.assert_array_equal(r.t, alone.t)


def test_same_seed_bitwise_identical_different_seed_differs():
    c = _cfg(per_feature=True, snapshots=(5.0, 20.0))
    (r1,), (r2,) = train([c], progress=False), train([c], progress=False)
    np.testing.assert_array_equal(r1.loss, r2.loss)
    np.testing.assert_array_equal(r1.per_feature, r2.per_feature)
    np.testing.assert_array_equal(r1.snapshots["B"], r2.snapshots["B"])
    (r3,) = train([c.replace(seed=1)], progress=False)
    assert not np.array_equal(r1.loss, r3.loss)
    assert r1.snapshots["B"].shape == (2, 16, 16)
    np.testing.assert_allclose(r1.per_feature.sum(axis=1), r1.loss, rtol=1e-9)


def test_loss_decreases_and_time_is_lr_times_steps():
    (r,) = train([_cfg(t_max=50.0, lr=2.0)], progress=False)
    assert r.t[-1] == 50.0 and r.steps[-1] == 25
    assert r.loss[-1] < 0.8 * r.loss[0]


def test_divergence_stops_only_that_model(device):
    good, bad = _cfg(seed=0), _cfg(seed=1, lr=500.0, t_max=5000.0)
    rg, rb = train([good, bad], device=device, progress=False)
    assert rb.diverged and rb.diverged_step is not None
    assert rb.diverged_t == pytest.approx(rb.diverged_step * 500.0)
    assert np.isnan(rb.loss[-1]) and np.isfinite(rb.loss[0])
    assert not rg.diverged
    (alone,) = train([good], device=device, progress=False)
    np.testing.assert_allclose(rg.loss, alone.loss, rtol=1e-5)


def test_flush_denormals_is_scoped():
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    assert tiny.item() != 0.0
    with flush_denormals():
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() != 0.0


def test_exact_and_sampled_eval_agree_for_linear_student(device):
    c = _cfg(variant="linear", init_scale=0.0, eval_size=100_000, t_max=10.0)
    (ex,) = train([c], device=device, progress=False)
    (sm,) = train([c.replace(eval_mode="sample")], device=device, progress=False)
    np.testing.assert_allclose(sm.loss, ex.loss, rtol=0.03)


def test_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device: 'cuda' requested but no CUDA GPU"):
        train([_cfg()], device="cuda", progress=False)
