"""Optimizers, schedules and weight decay against torch.optim on a dense autograd model.

The oracle is a textbook trainer written here: dense x, the dense formula of each student (W, E, D in
their K × N layout), ``torch.optim.SGD``/``Adam``/``AdamW`` with one parameter group per kind (B,
embedding, bias), a learning rate set before every step from a schedule written here, and the signed
weight decay of Liu, Liu & Gore applied here before ``AdamW.step`` (their order). It is fed the same
batches as each engine (the sparse engine's BatchStream, the static engine's sampler) and evaluated on
the run's held-out set; in float64 the curves agree to 1e-9 relative over hundreds of steps, for runs
trained two at a time with different hyperparameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from supdyn.config import from_dict
from supdyn.data import BatchStream, sample, stream_seed, torch_generator
from supdyn.data.static_sampler import StaticSampler, StaticStream
from supdyn.model import build_student
from supdyn.train import rates, step_times, train


def lr_at(cfg, k: int) -> float:
    """The rate of step k, written from the recipe (their get_lr) and the config's documentation."""
    tr = cfg.train
    lr, w, n, s = tr.lr, tr.warmup, int(round(tr.t_max / tr.lr)), k + 1
    if s <= w:
        return lr * s / w
    if tr.schedule == "cosine":
        lo = tr.lr_final * lr
        return (lr - lo) * 0.5 * (1 + math.cos(math.pi * (s - w) / (n - w))) + lo
    if tr.schedule == "step":
        return lr * tr.decay_factor ** ((s - w) // tr.decay_every)
    return lr


def _dense_params(st):
    """The student's initial parameters, one model, in the paper's layout (K × N embeddings)."""
    p = {k: v[0].clone() for k, v in st.params.items()}
    out = {}
    if "BT" in p:
        out["B"] = p["BT"].T.contiguous()
    if "B" in p:
        out["B"] = p["B"]
    if "encT" in p:
        out["E"], out["D"] = p["encT"].T.contiguous(), p["dec"]
    if "WT" in p:
        out["W"] = p["WT"].T.contiguous()
    if "bias" in p:
        out["b"] = p["bias"]
    return {k: torch.nn.Parameter(v) for k, v in out.items()}


def _output(variant, P, fixed, x):
    if variant == "none":
        return x @ P["B"].T
    if variant == "tied":
        return torch.relu(x @ P["W"].T @ P["W"] + P["b"])
    E, D = (P["E"], P["D"]) if variant == "learnable" else (fixed, fixed)
    y = x @ E.T @ P["B"].T @ D
    return y if variant == "linear" else torch.relu(y + P["b"])


def _loss(cfg, y, target):
    if cfg.train.loss_reduction == "mean":
        return torch.nn.functional.mse_loss(y, target)
    return 0.5 * ((y - target) ** 2).sum(1).mean()


def reference_curve(cfg, engine: str) -> np.ndarray:
    """The oracle's held-out loss at every step 0 … n of ``cfg`` (float64)."""
    st = build_student([cfg], dtype=torch.float64)
    P = _dense_params(st)
    fixed = st.fixed["W"][0] if "W" in st.fixed else None
    tr = cfg.train
    emb = [P[k] for k in ("E", "D", "W") if k in P]
    groups = [{"params": [P["B"]], "weight_decay": tr.weight_decay_B}] if "B" in P else []
    groups += [{"params": emb, "weight_decay": max(tr.weight_decay, 0.0)}] if emb else []
    groups += [{"params": [P["b"]], "weight_decay": 0.0}] if "b" in P else []
    kind = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[tr.optimizer]
    extra = {} if tr.optimizer == "sgd" else {"betas": (tr.beta1, tr.beta2), "eps": tr.eps}
    opt = kind(groups, lr=tr.lr, **extra)
    vmax = [cfg.data.value_max]
    if engine == "static":
        batches = StaticStream(StaticSampler(st.p, st.teacher, tr.batch, [stream_seed(cfg.seed, "train")],
                                             torch.float64, vmax=vmax))
    else:
        batches = BatchStream(st.p, tr.batch, [torch_generator(stream_seed(cfg.seed, "train"))], torch.float64,
                              vmax=vmax)
    xe = sample(st.p, tr.eval_size, [torch_generator(stream_seed(cfg.seed, "eval"))], torch.float64, vmax).dense()[0]
    a = st.teacher[0]
    n = int(round(tr.t_max / tr.lr))
    out = []
    for k in range(n + 1):
        with torch.no_grad():
            out.append(float(_loss(cfg, _output(cfg.variant, P, fixed, xe), xe * a)))
        if k == n:
            break
        x = next(batches).dense()[0]
        lr = lr_at(cfg, k)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        _loss(cfg, _output(cfg.variant, P, fixed, x), x * a).backward()
        if tr.weight_decay < 0:  # the signed form: each feature's vector (a column) pulled to unit norm,
            with torch.no_grad():  # decoupled (their AdamW; SGD), or as the gradient of its penalty (Adam)
                for p in emb:
                    pull = tr.weight_decay * p * (1 - 1 / (p.norm(dim=0, keepdim=True) + 1e-8))
                    p.grad.sub_(pull) if tr.optimizer == "adam" else p.add_(pull, alpha=lr)
        opt.step()
    return np.array(out)


BASE = {"n_features": 48, "d_hidden": 8, "batch": 64, "eval_size": 256, "dtype": "float64", "a": 1.1, "b": 0.2,
        "init_scale": 0.1, "eval_per_decade": 20}

CASES = {
    "adam-fixed-decayB": dict(variant="fixed", optimizer="adam", lr=0.01, t_max=3.0, weight_decay_B=0.05),
    "adamw-learnable-cosine": dict(variant="learnable", optimizer="adamw", lr=0.01, t_max=3.0, schedule="cosine",
                                   warmup=40, lr_final=0.05, weight_decay=0.1, weight_decay_B=0.02, beta1=0.8),
    "adamw-learnable-signed": dict(variant="learnable", optimizer="adamw", lr=0.01, t_max=3.0, weight_decay=-0.5),
    "adamw-tied-recipe": dict(variant="tied", optimizer="adamw", lr=0.01, t_max=3.0, schedule="cosine", warmup=50,
                              lr_final=0.05, weight_decay=-0.7, loss_reduction="mean", value_max=2.0,
                              embedding_init="gaussian", bias_init_scale=1.0, b=0.0),
    "adam-tied-L2": dict(variant="tied", optimizer="adam", lr=0.01, t_max=3.0, weight_decay=0.2, eps=1e-6),
    "adam-none-step": dict(variant="none", d_hidden=48, eval_mode="sample", optimizer="adam", lr=0.01, t_max=3.0, schedule="step",
                           decay_every=70, decay_factor=0.5, weight_decay_B=0.1, beta2=0.99),
    "sgd-fixed-cosine-decay": dict(variant="fixed", lr=0.5, t_max=150.0, schedule="cosine", warmup=20,
                                   weight_decay_B=0.01),
    "sgd-linear-warmup": dict(variant="linear", eval_mode="sample", lr=0.5, t_max=150.0, schedule="warmup", warmup=30, value_max=2.0,
                              loss_reduction="mean"),
    "adamw-learnable-mixed": dict(variant="learnable", optimizer="adamw", lr=0.02, t_max=6.0, weight_decay=0.3),
}


def _pair(case):
    """Two runs trained together: the case, and a second model with other hyperparameters."""
    c = from_dict({**BASE, **CASES[case]})
    other = {"seed": 1, "lr": c.train.lr * 0.7, "t_max": c.train.t_max * 0.7 * 0.8}
    if c.train.weight_decay:
        other["weight_decay"] = -c.train.weight_decay
    if c.train.weight_decay_B:
        other["weight_decay_B"] = 2 * c.train.weight_decay_B
    return [c, c.replace(**other)]


@pytest.mark.parametrize("engine", ["sparse", "static"])
@pytest.mark.parametrize("case", list(CASES))
def test_training_equals_torch_optim_on_the_dense_model(case, engine):
    cfgs = _pair(case)
    for c, r in zip(cfgs, train(cfgs, engine=engine, progress=False)):
        ref = reference_curve(c, engine)
        assert r.steps[-1] == len(ref) - 1 >= 200 and not r.diverged
        np.testing.assert_allclose(r.loss, ref[r.steps], rtol=1e-9, atol=1e-14)
        assert ref[-1] < 0.7 * ref[0]  # it learned something: not a trivially frozen comparison


def test_the_second_model_of_a_pair_has_other_hyperparameters():
    a, b = _pair("adamw-learnable-signed")
    assert (a.train.weight_decay, b.train.weight_decay) == (-0.5, 0.5) and a.train.lr != b.train.lr


@pytest.mark.parametrize("case", ["adamw-tied-recipe", "adam-none-step", "sgd-linear-warmup"])
def test_schedule_rates_and_integrated_time(case):
    c = _pair(case)[0]
    n = int(round(c.train.t_max / c.train.lr))
    want = np.array([lr_at(c, k) for k in range(n)])
    np.testing.assert_allclose(rates(c), want, rtol=1e-13)
    np.testing.assert_allclose(step_times(c), np.r_[0.0, np.cumsum(want)], rtol=1e-12)
    (r,) = train([c], progress=False)
    np.testing.assert_allclose(r.t, np.r_[0.0, np.cumsum(want)][r.steps], rtol=1e-12)
    assert r.steps[-1] == n and r.t[-1] < c.train.t_max
    ts = r.t[(r.t >= 1) & (r.steps < n)]  # log-spaced in integrated t: each the nearest step to 10^(i/per)
    target = 10 ** (np.round(np.log10(ts) * c.train.eval_per_decade) / c.train.eval_per_decade)
    assert np.all(np.abs(ts - target) <= c.train.lr)


def test_the_constant_schedule_keeps_lr_times_steps():
    c = from_dict({**BASE, "lr": 0.3, "t_max": 60.0})
    assert step_times(c) is None
    (r,) = train([c], progress=False)
    np.testing.assert_array_equal(r.t, r.steps * 0.3)
    assert r.steps[-1] == 200
