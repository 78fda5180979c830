"""Liu, Liu & Gore's recipe (their exp-10: the tied student y = ReLU(W Wᵀ x + b) on p_i ∝ i^−(1+α),
values U(0, 2), W ~ N(0, 1/m), b ~ N(0, 1), MSE loss, AdamW lr 1e-2 with 2000 warm-up steps and a cosine
to 5 %, signed weight decay on W) as one supdyn config, against an independent implementation of the
recipe written here from its description: dense data, autograd, ``torch.optim.AdamW`` and the signed
decay applied before each step.

The two draw different random numbers, so they agree in distribution: at every checkpoint the
seed-mean held-out losses differ by at most TOL_SE combined standard errors plus TOL_REL of the loss.
The fast test runs a reduced recipe (N = 200, m = 16, batch 256, 100 warm-up steps, 400 steps, wd = −1,
10 seeds each); the slow one the recipe's own N = 1000, m = 10 and 100, batch 2048 and 2000 warm-up
steps, at 4000 steps instead of 20000 (3 seeds each). The seed-to-seed spread of the loss is ~20 % here
(b ~ N(0, 1) and W differ per seed), so the fast test resolves differences of about 15 % and more: a
wrong value range, loss reduction, initialization or schedule is far outside it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from supdyn.config import from_dict
from supdyn.train import train

TOL_SE = 3.0
TOL_REL = 0.03


def recipe_config(n, m, batch, steps, warmup, alpha, wd, seed, lr=1e-2, eval_size=4096):
    """Their run as a supdyn config (docs: README, "Beyond the paper")."""
    return from_dict({
        "data": {"n_features": n, "law": "power", "a": 1.0 + alpha, "b": 0.0, "value_max": 2.0},
        "model": {"variant": "tied", "d_hidden": m, "embedding_init": "gaussian", "bias_init_scale": 1.0},
        "train": {"optimizer": "adamw", "lr": lr, "batch": batch, "t_max": steps * lr, "schedule": "cosine",
                  "warmup": warmup, "lr_final": 0.05, "weight_decay": wd, "loss_reduction": "mean",
                  "eval_size": eval_size, "eval_per_decade": 20},
        "seed": seed})


def reference_recipe(n, m, batch, steps, warmup, alpha, wd, seed, at, lr=1e-2, eval_size=4096):
    """The recipe, independently: held-out MSE at the steps ``at`` (a sorted list)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    prob = (i ** -(1.0 + alpha) / (i ** -(1.0 + alpha)).sum()).float()

    def draw(size):
        return (torch.rand(size, n, generator=g) < prob).float() * torch.rand(size, n, generator=g) * 2

    W = torch.nn.Parameter(torch.randn(n, m, generator=g) / math.sqrt(m))
    b = torch.nn.Parameter(torch.randn(n, generator=g))
    opt = torch.optim.AdamW([{"params": [W], "weight_decay": max(wd, 0.0)}, {"params": [b], "weight_decay": 0.0}],
                            lr=lr)
    xe = draw(eval_size)
    out, wanted = {}, set(at)
    for step in range(steps + 1):
        if step in wanted:
            with torch.no_grad():
                out[step] = float(torch.nn.functional.mse_loss(torch.relu(xe @ W @ W.T + b), xe))
        if step == steps:
            break
        s = step + 1
        rate = lr * s / warmup if s < warmup else \
            0.05 * lr + 0.95 * lr * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = rate
        x = draw(batch)
        opt.zero_grad()
        torch.nn.functional.mse_loss(torch.relu(x @ W @ W.T + b), x).backward()
        if wd < 0:  # each feature's row pulled towards unit norm
            with torch.no_grad():
                W += rate * wd * W * (1 - 1 / (W.norm(dim=1, keepdim=True) + 1e-8))
        opt.step()
    return np.array([out[s] for s in at])


def compare(n, m, batch, steps, warmup, alpha, wd, seeds):
    cfgs = [recipe_config(n, m, batch, steps, warmup, alpha, wd, s) for s in seeds]
    runs = train(cfgs, progress=False)
    at = sorted({int(s) for s in runs[0].steps if s > 0})
    pos = np.searchsorted(runs[0].steps, at)
    ours = np.stack([r.loss[pos] for r in runs])
    ref = np.stack([reference_recipe(n, m, batch, steps, warmup, alpha, wd, s, at) for s in seeds])
    k = len(seeds)
    se = np.sqrt(ours.var(0, ddof=1) / k + ref.var(0, ddof=1) / k)
    gap = np.abs(ours.mean(0) - ref.mean(0))
    allowed = TOL_SE * se + TOL_REL * ref.mean(0)
    return np.array(at), ours, ref, gap, allowed


def test_the_recipe_at_reduced_size_matches_an_independent_implementation():
    at, ours, ref, gap, allowed = compare(200, 16, 256, 400, 100, 0.5, -1.0, seeds=range(10))
    assert np.all(gap <= allowed), (at, ours.mean(0), ref.mean(0), gap / allowed)
    assert ref.mean(0)[-1] < 0.5 * ref.mean(0)[0]  # it learned


@pytest.mark.slow
@pytest.mark.parametrize("m, wd", [(10, -1.0), (100, 1.0)])
def test_the_recipe_at_its_size_matches_an_independent_implementation(m, wd):
    at, ours, ref, gap, allowed = compare(1000, m, 2048, 4000, 2000, 0.5, wd, seeds=range(3))
    print(f"m={m} wd={wd}: max gap / allowed = {np.max(gap / allowed):.3f}; final loss ours "
          f"{ours.mean(0)[-1]:.5g}, reference {ref.mean(0)[-1]:.5g}")
    assert np.all(gap <= allowed), (at, ours.mean(0), ref.mean(0), gap / allowed)
