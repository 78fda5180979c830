"""The static device step (supdyn.train.static / engine) against the sparse CPU step and the textbook
formulas, run on CPU tensors (the CUDA variants run under ``-m cuda``): the same losses and gradients
for every student variant, the SGD update with frozen and finished models, no host synchronization
inside a block, and whole-run properties (determinism, block size, packing, divergence, overflow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import supdyn.train.engine as engine
from supdyn.config import from_dict
from supdyn.data.static_sampler import StaticSampler, to_sparse
from supdyn.model import build_student, loss_and_grads
from supdyn.train import StaticRunner, train
from supdyn.train.static import DeviceState, static_grads

VARIANTS = ["none", "linear", "fixed", "learnable", "tied"]


def _student(variant, n=64, k=8, m=3, device="cpu"):
    cfgs = [from_dict({"n_features": n, "d_hidden": n if variant == "none" else k, "variant": variant,
                       "init_scale": 0.3, "a": 1.1 + 0.3 * s, "b": 0.3, "seed": s}) for s in range(m)]
    st = build_student(cfgs, dtype=torch.float64, device=device)
    if "bias" in st.params:  # units on and off, including for the empty samples (ReLU(b) > 0)
        st.params["bias"].normal_(0.0, 0.3, generator=torch.Generator(device).manual_seed(5))
    return st


def _full(st, rows):
    out = {}
    for name, (idx, val) in rows.items():
        p = st.params[name]
        full = torch.zeros(p.shape[0] * p.shape[1], p.shape[2], dtype=p.dtype, device=p.device)
        out[name] = full.index_add_(0, idx, val).view(p.shape)
    return out


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("batch", [48, 1024])
def test_static_grads_equal_the_sparse_step(variant, batch, device):
    """Loss and every gradient of the static step equal model.step_grads (itself tested against autograd)
    on the same batch, to float64 rounding; batch 1024 leaves empty samples outside the compact rows."""
    st = _student(variant, device=device)
    s = StaticSampler(st.p, st.teacher, batch, [11, 12, 13], torch.float64)
    assert (s.rows < batch) == (batch == 1024)
    x = s.draw(torch.tensor(4, device=device), 2)
    for k in range(2):
        loss, dense, rows = static_grads(st, x, k, s.rows, batch)
        dense.update(_full(st, rows))
        ref_loss, ref = loss_and_grads(st, to_sparse(x, k, 3, s.rows, st.n_features, batch))
        torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-13)
        assert set(dense) == set(ref) == set(st.params)
        for name in ref:
            torch.testing.assert_close(dense[name], ref[name], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("variant", VARIANTS)
def test_apply_is_sgd_with_frozen_and_finished_models(variant):
    st = _student(variant)
    s = StaticSampler(st.p, st.teacher, 64, [1, 2, 3], torch.float64)
    state = DeviceState(st, [0.7, 0.3, 0.5], [5, 5, 0], 1e3)  # model 2: zero steps
    state.set_loss0(torch.tensor([1.0, 1e-30, 1.0]))  # model 1: any loss counts as diverged
    before = {k: v.clone() for k, v in st.params.items()}
    x = s.draw(state.step, 1)
    loss, dense, rows = static_grads(st, x, 0, s.rows, 64)
    grads = {**{k: v.clone() for k, v in dense.items()}, **_full(st, rows)}
    state.apply(loss, dense, rows)
    assert state.diverged.tolist() == [False, True, False] and state.div_step.tolist() == [-1, 0, -1]
    assert int(state.step) == 1
    for k, g in grads.items():
        torch.testing.assert_close(st.params[k][0], before[k][0] - 0.7 * g[0], rtol=1e-12, atol=1e-14)
        assert torch.all(st.params[k][1] == 0)  # diverged: zeroed
        assert torch.equal(st.params[k][2], before[k][2])  # no steps left: unchanged


class NoHostSync(TorchFunctionMode):
    """Raises on any call that copies a tensor value to the host or has a data-dependent output size."""

    SYNC = {"item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero",
            "masked_select", "unique", "unique_consecutive", "bincount", "argwhere", "nonzero_static"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in self.SYNC:
            raise AssertionError(f"host synchronization inside the step loop: {name}")
        if name == "repeat_interleave" and "output_size" not in kwargs and isinstance(args[1], torch.Tensor):
            raise AssertionError("repeat_interleave with tensor repeats has a data-dependent size")
        if name in ("__getitem__", "__setitem__") and _has_bool_index(args[1]):
            raise AssertionError(f"boolean-mask {name}: data-dependent size")
        if name == "to" and any(isinstance(a, (str, torch.device)) and str(a).startswith("cpu")
                                for a in (*args[1:], kwargs.get("device"))):
            raise AssertionError("copy to the host inside the step loop")
        return func(*args, **kwargs)


def _has_bool_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


def test_sync_detector_catches_syncs():
    x = torch.arange(4.0)
    for bad in (lambda: x.sum().item(), lambda: bool(x[0] > 1), lambda: x[x > 1], lambda: torch.nonzero(x),
                lambda: x.cpu(), lambda: x.tolist()):
        with pytest.raises(AssertionError, match="host|data-dependent"), NoHostSync():
            bad()


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_block_never_synchronizes_with_the_host(variant):
    cfgs = [from_dict({"n_features": 64, "d_hidden": 64 if variant == "none" else 16, "variant": variant,
                       "batch": 128, "seed": s, "lr": 1.0 + s}) for s in range(2)]
    run = StaticRunner(cfgs, torch.device("cpu"), steps_per_draw=4)
    with torch.no_grad(), NoHostSync():
        run.advance(9)  # two blocks of 4 and one single step
    assert int(run.state.step) == 9


OPTIMIZED = [  # optimizers, schedules and weight decays, several per pack (per-model tensors)
    [{"variant": "learnable", "optimizer": "adamw", "lr": 0.01, "schedule": "cosine", "warmup": 3, "lr_final": 0.1,
      "weight_decay": w, "weight_decay_B": 0.01, "seed": i} for i, w in enumerate((-0.5, 0.5))],
    [{"variant": "tied", "optimizer": "adam", "lr": 0.01, "schedule": "step", "decay_every": 2, "weight_decay": 0.1,
      "loss_reduction": "mean", "value_max": 2.0, "bias_init_scale": 1.0, "seed": i} for i in range(2)],
    [{"variant": "none", "d_hidden": 64, "lr": 1.0, "schedule": "warmup", "warmup": 5, "weight_decay_B": 0.1,
      "seed": 0}, {"variant": "none", "d_hidden": 64, "lr": 0.5, "seed": 1}],
]


@pytest.mark.parametrize("pack", OPTIMIZED, ids=["adamw-cosine-signed", "adam-step-tied", "sgd-warmup-decay"])
def test_optimizers_and_schedules_never_synchronize_with_the_host(pack):
    cfgs = [from_dict({"n_features": 64, "d_hidden": 16, "batch": 128, **kw}) for kw in pack]
    run = StaticRunner(cfgs, torch.device("cpu"), steps_per_draw=4)
    with torch.no_grad(), NoHostSync():
        run.advance(9)
    assert int(run.state.step) == 9


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_a_pack_of_adam_models_sheds_finished_ones_and_keeps_their_moments(optimizer, monkeypatch):
    """Shedding carries the optimizer's moments and the schedule: the long run's curve equals its run alone."""
    shrinks = []
    monkeypatch.setattr(engine.StaticRunner, "shrink", _spy(engine.StaticRunner.shrink, shrinks))
    kw = {"variant": "learnable", "optimizer": optimizer, "lr": 0.01, "weight_decay": -0.3,
          "schedule": "cosine", "warmup": 10}
    long = _cfg(seed=0, t_max=2.0, **kw)
    short = [_cfg(seed=s, t_max=0.5, **kw) for s in (1, 2)]
    results = train([long, *short], engine="static", progress=False)
    assert shrinks and shrinks[0] == [0]
    for c, r in zip([long, *short], results):
        (alone,) = train([c], engine="static", progress=False)
        np.testing.assert_allclose(r.loss, alone.loss, rtol=1e-5)


def _cfg(**kw):
    base = {"n_features": 64, "d_hidden": 16, "t_max": 40.0, "batch": 128, "eval_size": 512}
    return from_dict({**base, **kw})


@pytest.mark.parametrize("variant", VARIANTS)
def test_cpu_runs_are_deterministic_and_independent_of_the_block_size(variant):
    c = _cfg(variant=variant, d_hidden=64 if variant == "none" else 16, per_feature=True, snapshots=(3.0, 40.0))
    (r1,), (r2,) = (train([c], engine="static", progress=False, steps_per_draw=d) for d in (16, 3))
    assert r1.engine == "static"
    np.testing.assert_array_equal(r1.loss, r2.loss)
    np.testing.assert_array_equal(r1.per_feature, r2.per_feature)
    assert set(r1.snapshots) == set(r2.snapshots) and r1.snapshots
    for name in r1.snapshots:
        np.testing.assert_array_equal(r1.snapshots[name], r2.snapshots[name])
    (r3,) = train([c.replace(seed=1)], engine="static", progress=False)
    assert not np.array_equal(r1.loss[1:], r3.loss[1:])


@pytest.mark.parametrize("variant", ["fixed", "none", "learnable"])
def test_packed_equals_alone_with_other_lrs_and_step_counts(variant, device):
    kw = {"variant": variant, "d_hidden": 64 if variant == "none" else 16}
    cfgs = [_cfg(a=1.1, seed=0, **kw), _cfg(a=1.5, b=0.25, seed=1, **kw),
            _cfg(a=0.8, seed=2, lr=0.5, **kw), _cfg(a=1.2, seed=3, t_max=10.0, **kw)]
    together = train(cfgs, device=device, engine="static", progress=False)
    for c, r in zip(cfgs, together):
        (alone,) = train([c], device=device, engine="static", progress=False)
        np.testing.assert_array_equal(r.t, alone.t)
        np.testing.assert_allclose(r.loss, alone.loss, rtol=1e-5)


def test_divergence_freezes_only_the_diverging_model(device):
    ok = _cfg(variant="learnable", seed=5, lr=0.5, t_max=50.0)
    bad = _cfg(variant="learnable", seed=6, lr=2000.0, t_max=2e4)
    r_bad, r_ok = train([bad, ok], device=device, engine="static", progress=False)
    (alone,) = train([ok], device=device, engine="static", progress=False)
    assert r_bad.diverged and r_bad.diverged_step == 1 and np.isnan(r_bad.loss[-1]) and r_bad.loss[0] > 0
    assert not r_ok.diverged
    np.testing.assert_allclose(r_ok.loss, alone.loss, rtol=1e-5)


def test_an_overflow_stops_the_run_with_one_line(monkeypatch):
    monkeypatch.setattr(engine.StaticSampler, "__init__", _tiny_capacity(engine.StaticSampler.__init__))
    with pytest.raises(RuntimeError, match="^sampler: a batch of run.*exceeded the static capacity") as exc:
        train([_cfg()], engine="static", progress=False)
    assert "\n" not in str(exc.value)


def _tiny_capacity(init):
    def patched(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "capacity": (8, 4)})
    return patched


def test_engine_choice_is_checked():
    with pytest.raises(ValueError, match="^engine: got 'fast'; allowed: one of auto, sparse, static$"):
        train([_cfg()], engine="fast", progress=False)


def test_a_pack_sheds_finished_and_diverged_models(device, monkeypatch):
    """When most models of a pack are done (or diverged) the pack keeps only the others; their curves,
    per-feature losses and snapshots equal runs alone, and dropped runs keep theirs."""
    shrinks = []
    monkeypatch.setattr(engine.StaticRunner, "shrink", _spy(engine.StaticRunner.shrink, shrinks))
    long = _cfg(variant="learnable", seed=0, t_max=200.0, per_feature=True, snapshots=(5.0, 150.0))
    short = [_cfg(variant="learnable", seed=s, t_max=8.0) for s in (1, 2)]
    bad = _cfg(variant="learnable", seed=6, lr=2000.0, t_max=2e5, snapshots=(1.5e5,))
    results = train([long, *short, bad], device=device, engine="static", progress=False)
    assert shrinks and shrinks[0] == [0]  # at t = 8 only the long run is left active
    for c, r in zip([long, *short], results):
        (alone,) = train([c], device=device, engine="static", progress=False)
        np.testing.assert_allclose(r.loss, alone.loss, rtol=1e-5)
        if c.train.per_feature:
            np.testing.assert_allclose(r.per_feature, alone.per_feature, rtol=1e-5, atol=1e-12)
            np.testing.assert_allclose(r.snapshots["B"], alone.snapshots["B"], rtol=1e-4, atol=1e-7)
    rb = results[3]
    assert rb.diverged and np.all(np.isnan(rb.loss[rb.steps > rb.diverged_step]))
    assert rb.snapshots["B"].shape == (1, 16, 16) and np.all(rb.snapshots["B"] == 0)


def _spy(method, calls):
    def wrapped(self, keep):
        calls.append([int(k) for k in keep])
        return method(self, keep)
    return wrapped
