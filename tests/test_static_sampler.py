"""The static-shape sampler of the device engine (supdyn.data.static_sampler) against independent oracles:
the Bernoulli(p_j) × U(0, 1) law (exact joint law on a tiny grid, moments at 5σ), its structure (sorted,
distinct, compact rows), its streams (the same batch whatever the pack, block size or device) and its
overflow flag."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import binom, chi2, poisson

from supdyn.config import from_dict
from supdyn.data import frequencies
from supdyn.data.static_sampler import (StaticSampler, StaticStream, capacities, hazards, mix64, to_sparse,
                                        uniforms)


def _sampler(p, batch, keys, device="cpu", dtype=torch.float64, **kw):
    p = torch.as_tensor(np.atleast_2d(p), dtype=torch.float64, device=device)
    teacher = torch.ones(p.shape, dtype=dtype, device=device)
    return StaticSampler(p, teacher, batch, keys, dtype, **kw)


def _dense(s: StaticSampler, step: int, steps: int = 1) -> torch.Tensor:
    """(steps, n_models, batch, N) dense x of the draw at ``step``."""
    x = s.draw(torch.tensor(step, device=s.keys.device), steps)
    return torch.stack([to_sparse(x, k, s.n_models, s.rows, s.n_features, s.batch).dense() for k in range(steps)])


def test_uniforms_are_uniform_and_mix_is_a_bijection_on_a_sample():
    z = torch.arange(1 << 16, dtype=torch.int64) * 7919
    assert torch.unique(mix64(z)).numel() == z.numel()
    u = uniforms(torch.tensor([5, 6])[:, None], torch.arange(200_000)[None, :])  # (2, 200000)
    assert u.min() >= 0 and u.max() < 1
    n = u.shape[1]
    for row in u:  # mean, variance, lag-1 correlation and a 20-bin chi-square, each at about 5σ
        assert abs(row.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
        assert abs(row.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
        assert abs(np.corrcoef(row[1:], row[:-1])[0, 1]) < 5 / np.sqrt(n)
        counts = np.bincount((row.numpy() * 20).astype(int), minlength=20)
        assert ((counts - n / 20) ** 2 / (n / 20)).sum() < chi2.isf(1e-6, 19)
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 5 / np.sqrt(n)  # two keys: independent streams


def test_exact_joint_law_on_a_tiny_grid(device):
    """The active patterns of a 2-sample × 3-feature batch follow Π p^u (1 − p)^(1−u), samples independent
    (chi-square over the 36 unordered pairs of sample patterns — compact rows come first, so the order of
    the samples is not kept; 40 000 batches), and the values are U(0, 1)."""
    p = np.array([0.7, 0.25, 0.05])
    s = _sampler(p, 2, [9], device=device)
    x = _dense(s, 0, 40_000)[:, 0].cpu()  # (40000, 2, 3)
    code = ((x > 0).long() * (1 << torch.arange(3))).sum(2).numpy()  # (40000, 2) pattern of each sample
    lo, hi = code.min(1), code.max(1)
    counts = np.bincount(lo * 8 + hi, minlength=64)
    one = np.array([np.prod([p[i] if (c >> i) & 1 else 1 - p[i] for i in range(3)]) for c in range(8)])
    probs = np.array([(1 if a == b else 2) * one[a] * one[b] if a <= b else 0.0 for a in range(8) for b in range(8)])
    keep = probs > 0
    expected = probs[keep] * len(x)
    assert counts[~keep].sum() == 0
    assert ((counts[keep] - expected) ** 2 / expected).sum() < chi2.isf(1e-6, keep.sum() - 1)
    v = x[x > 0].numpy()
    assert abs(v.mean() - 0.5) < 5 * np.sqrt(1 / 12 / v.size) and v.min() > 0 and v.max() < 1


@pytest.mark.parametrize("a, normalize", [(1.1, "sum"), (2.0, "none"), (0.5, "sum")])
def test_moments_match_the_law_at_5_sigma(a, normalize, device):
    cfg = from_dict({"n_features": 128, "d_hidden": 8, "a": a, "normalize": normalize})
    p = frequencies(cfg.data)
    s = _sampler(np.stack([p, p]), 512, [1, 2], device=device)  # two models, same law
    x = _dense(s, 3, 16).reshape(-1, 128).cpu().double()  # (16·2·512, N)
    n = x.shape[0]
    freq = (x > 0).double().mean(0).numpy()
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)
    ex2 = (x ** 2).mean(0).numpy()  # E[x²] = p/3
    np.testing.assert_array_less(np.abs(ex2 - p / 3), 5 * np.sqrt((p / 5 - p ** 2 / 9) / n) + 1e-12)
    i, j = 0, 1  # E[x_i x_j] = p_i p_j / 4 for i ≠ j (independent features)
    xy = (x[:, i] * x[:, j]).numpy()
    assert abs(xy.mean() - p[i] * p[j] / 4) < 5 * xy.std() / np.sqrt(n)


def test_structure_sorted_distinct_and_compact(device):
    p = frequencies(from_dict({"n_features": 64, "d_hidden": 8, "a": 1.1}).data)
    s = _sampler(np.stack([p, p[::-1].copy()]), 1024, [4, 5], device=device)
    assert s.rows < 1024  # empty samples exist, so the compact rows are fewer than the batch
    x = s.draw(torch.tensor(0, device=device), 2)
    for k in range(2):
        live = (x.value[k] != 0).cpu()
        feat, row, pos = (t[k].cpu() for t in (x.feat, x.row, x.pos))
        assert torch.all(row[1:] >= row[:-1])  # rows nondecreasing: compact rows in sample order
        key = row[live] * 64 + feat[live] % 64
        assert torch.unique(key).numel() == key.numel()  # no (sample, feature) twice
        assert torch.equal(pos[live], key)  # output index (m·rows + r)·N + j
        torch.testing.assert_close(x.target[k][live.to(device)], x.value[k][live.to(device)])  # A = 1
        assert torch.all(x.target[k][~live.to(device)] == 0)  # padding adds nothing
    assert not s.overflow.any()


def test_a_models_batches_do_not_depend_on_pack_block_or_capacity():
    p1 = frequencies(from_dict({"n_features": 32, "d_hidden": 8, "a": 1.1}).data)
    p2 = frequencies(from_dict({"n_features": 32, "d_hidden": 8, "a": 2.0, "normalize": "none"}).data)
    alone = _dense(_sampler(p1, 64, [77]), 5, 1)[0, 0]
    packed = _sampler(np.stack([p2, p1]), 64, [3, 77])  # other capacity, other neighbour
    assert packed.capacity != _sampler(p1, 64, [77]).capacity
    block = _dense(packed, 2, 4)  # steps 2..5 in one draw
    assert torch.equal(block[3, 1], alone)
    assert torch.equal(_dense(packed, 5, 1)[0, 1], alone)


def test_capacities_are_the_quantiles():
    p = frequencies(from_dict({"n_features": 256, "a": 1.1}).data)
    cap, rows = capacities(p[None], 1024, eps=1e-6)
    h = hazards(p).sum()
    assert poisson.sf(cap - 1, 1024 * h) < 1e-6 < poisson.sf(cap - 3, 1024 * h)
    assert binom.sf(rows - 1, 1024, -np.expm1(-h)) < 1e-6 < binom.sf(rows - 2, 1024, -np.expm1(-h))
    assert capacities(np.ones((1, 4)), 8)[1] == 8  # p = 1: every sample is non-empty, rows = batch


def test_overflow_is_flagged():
    p = np.full(16, 0.5)
    s = _sampler(p, 64, [1], capacity=(40, 64))  # ~ 64 · 16 · 0.69 points needed, 40 allowed
    s.draw(torch.tensor(0), 1)
    assert bool(s.overflow[0])
    s2 = _sampler(p, 64, [1], capacity=(2000, 10))  # rows: about 64 non-empty samples, 10 allowed
    s2.draw(torch.tensor(0), 1)
    assert bool(s2.overflow[0])


def test_stream_is_the_engine_data():
    p = frequencies(from_dict({"n_features": 16, "d_hidden": 8}).data)
    s = _sampler(p, 32, [8])
    it = StaticStream(s)
    for step in range(3):
        assert torch.equal(next(it).dense(), _dense(s, step, 1)[0])


def test_all_zero_and_all_one_frequencies():
    s = _sampler(np.stack([np.zeros(4), np.ones(4)]), 8, [1, 2])
    x = _dense(s, 0, 2)  # (2, 2, 8, 4)
    assert torch.all(x[:, 0] == 0) and torch.all(x[:, 1] > 0)
    assert not s.overflow.any()
    assert list(itertools.chain(*[[int(v) for v in (x[:, 1] > 0).sum((1, 2))]])) == [32, 32]
