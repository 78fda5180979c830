import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats

from supdyn.config import ConfigError, DataConfig
from supdyn.data import (frequencies, moments, sample, second_moment, stream_seed, teacher_diagonal,
                         teacher_output, torch_generator)


def test_power_law_is_normalized_and_decreasing():
    p = frequencies(DataConfig(n_features=1024, a=1.1))
    assert p.sum() == pytest.approx(1.0, rel=1e-12)
    i = np.arange(1, 1025)
    np.testing.assert_allclose(p / p[0], i**-1.1, rtol=1e-12)
    p2 = frequencies(DataConfig(n_features=64, a=1.5, density=2.0))
    assert p2.sum() == pytest.approx(2.0)


def test_unnormalized_reading_has_p1_equal_one():
    p = frequencies(DataConfig(n_features=100, a=1.5, normalize="none"))
    np.testing.assert_allclose(p, np.arange(1, 101) ** -1.5)


def test_other_laws():
    n = 50
    i = np.arange(1, n + 1)
    pe = frequencies(DataConfig(n_features=n, law="exponential", a=0.5, kappa=0.3))
    np.testing.assert_allclose(pe / pe[0], np.exp(-0.3 * (i**0.5 - 1)), rtol=1e-10)
    pa = frequencies(DataConfig(n_features=n, law="algebraic", a=1.0))
    np.testing.assert_allclose(pa, (n + 1 - i) / ((n + 1 - i).sum()), rtol=1e-12)
    user = tuple(np.linspace(0.5, 0.01, n))
    np.testing.assert_allclose(frequencies(DataConfig(n_features=n, law="user", p=user)), user)


def test_p_above_one_names_index_and_excess():
    with pytest.raises(ConfigError, match=r"density: normalized p_1 = .* exceeds 1 by"):
        frequencies(DataConfig(n_features=8, a=3.0, density=2.0))
    with pytest.raises(ConfigError, match=r"p: p_2 = "):
        frequencies(DataConfig(n_features=3, law="user", p=(0.5, 1.5, 0.1)))
    with pytest.raises(ConfigError, match=r"p\[1\]"):
        DataConfig(n_features=3, law="user", p=(0.5, float("nan"), 0.1))


def test_teacher():
    np.testing.assert_allclose(teacher_diagonal(DataConfig(n_features=10, b=0.5)), np.arange(1, 11) ** -0.5)
    d = tuple(np.linspace(1, 2, 10))
    np.testing.assert_allclose(teacher_diagonal(DataConfig(n_features=10, teacher="user", teacher_diag=d)), d)


def test_second_moment():
    p = np.array([0.5, 0.2, 0.1])
    s = second_moment(p)
    np.testing.assert_allclose(np.diag(s), p / 3)
    assert s[0, 1] == pytest.approx(0.5 * 0.2 / 4)
    mu, ex2 = moments(p)
    np.testing.assert_allclose(mu, p / 2)


def _draw(p, batch, seed, n_batches=4, device="cpu"):
    """Batches drawn on ``device``, returned on the CPU."""
    gen = torch_generator(seed, device)
    pt = torch.tensor(p, device=device)[None]
    xs = [sample(pt, batch, [gen]) for _ in range(n_batches)]
    return [dataclasses.replace(x, row=x.row.cpu(), col=x.col.cpu(), value=x.value.cpu()) for x in xs]


def test_sampler_statistics(device):
    """Activation density, per-feature frequencies and U(0,1) values, at 5 sigma."""
    p = frequencies(DataConfig(n_features=256, a=1.1))
    batch, nb = 8192, 4
    xs = _draw(p, batch, seed=1, n_batches=nb, device=device)
    n = batch * nb
    counts = np.zeros(256)
    active = []
    vals = []
    for x in xs:
        counts += np.bincount(x.col.numpy(), minlength=256)
        active.append(np.bincount(x.row.numpy(), minlength=batch))
        vals.append(x.value.numpy())
    per_sample = np.concatenate(active)
    var = np.sum(p * (1 - p))
    assert abs(per_sample.mean() - p.sum()) < 5 * np.sqrt(var / n)
    z = (counts - n * p) / np.sqrt(n * p * (1 - p))
    assert np.abs(z).max() < 5.0
    chi2 = np.sum(z**2)
    assert stats.chi2.sf(chi2, df=256) > 1e-4
    v = np.concatenate(vals)
    assert stats.kstest(v, "uniform").pvalue > 1e-4
    assert ((v > 0) & (v < 1)).all()


def test_sampler_entries_unique_and_dense_form(device):
    p = np.full(16, 0.9)
    (x,) = _draw(p, 64, seed=2, n_batches=1, device=device)
    key = x.row * 16 + x.col
    assert key.unique().numel() == key.numel()
    d = x.dense()
    assert d.shape == (1, 64, 16)
    assert (d > 0).sum().item() == key.numel()
    assert abs((d > 0).float().mean().item() - 0.9) < 0.05


@pytest.mark.parametrize("batch", [64, 1024])
def test_sampler_dense_features(batch):
    """Features active in most samples (p_1 = 1 of unnormalized i^-a) are drawn as Bernoulli rows: p = 1
    fills every sample, pairs stay distinct and frequencies hold at 5 sigma (the torch sampler's bitwise
    agreement with this one: tests/test_speed_science.py)."""
    from supdyn.data import sampler as data

    p = torch.tensor([1.0, 0.97, 0.8, 0.76, 0.5, 0.05, 0.0], dtype=torch.float64)
    counts, n = torch.zeros(7), 0
    for seed in range(40):
        pos, col = data._active_set_numpy(p, batch, torch_generator(seed))
        assert bool((col[1:] >= col[:-1]).all())  # sorted by feature
        key = col * batch + pos
        assert key.unique().numel() == key.numel() and bool(((pos >= 0) & (pos < batch)).all())
        assert torch.equal(pos[col == 0].sort().values, torch.arange(batch))  # p = 1: every sample
        counts += torch.bincount(col, minlength=7)
        n += batch
    pf = p.float()
    z = (counts - n * pf)[1:-1] / torch.sqrt(n * pf * (1 - pf))[1:-1]
    assert float(z.abs().max()) < 5.0 and counts[-1] == 0


def test_teacher_output_and_select():
    p = np.full((2, 8), 0.5)
    gens = [torch_generator(0), torch_generator(1)]
    x = sample(torch.tensor(p), 10, gens)
    a = torch.arange(1, 17, dtype=torch.float32).view(2, 8)
    y = torch.zeros(2, 10, 8)
    y.view(-1)[x.row * 8 + x.col] = teacher_output(x, a)
    torch.testing.assert_close(y, x.dense() * a[:, None, :])
    part = x.select(3, 7)
    torch.testing.assert_close(part.dense(), x.dense()[:, 3:7])


def test_streams_are_distinct_and_models_independent():
    assert len({stream_seed(0, s) for s in ("embedding", "init", "train", "eval")}) == 4
    assert stream_seed(0, "train") != stream_seed(1, "train")
    p = torch.tensor(frequencies(DataConfig(n_features=32)))
    alone = sample(p[None], 50, [torch_generator(7)])
    both = sample(torch.stack([p, p]), 50, [torch_generator(3), torch_generator(7)])
    second = both.select(0, 50)
    m = second.model == 1
    torch.testing.assert_close(second.dense()[1], alone.dense()[0])
    assert m.any()


@pytest.mark.parametrize("split", ["numpy", "torch"])
def test_batch_stream_cuts_one_draw_into_steps(split, monkeypatch):
    """BatchStream's batches are the samples k·b … (k+1)·b − 1 of one sample() call of D·b samples per
    model (``SparseBatch.select`` as the oracle), draw after draw; a model's batches do not depend on the
    models packed with it. Both the NumPy (CPU) and the torch (other devices) cut are checked."""
    from supdyn.data import sampler as data

    if split == "torch":
        monkeypatch.setattr(data, "_split_numpy", data._split_torch)
    p = torch.tensor(frequencies(DataConfig(n_features=48, a=0.7)))
    P = torch.stack([p, p.flip(0), torch.full_like(p, 0.9)])  # 0.9: the sampler's complement path
    d, b = 3, 40
    stream = data.BatchStream(P, b, [torch_generator(s) for s in range(3)], steps_per_draw=d)
    ref_gens = [torch_generator(s) for s in range(3)]
    alone = data.BatchStream(P[1:2], b, [torch_generator(1)], steps_per_draw=d)
    for _ in range(2):  # two draws
        x = sample(P, d * b, ref_gens)
        for k in range(d):
            got, want = next(stream), x.select(k * b, (k + 1) * b)
            assert (got.n_models, got.batch, got.n_features) == (3, b, 48)
            for name in ("row", "col", "value"):
                assert torch.equal(getattr(got, name), getattr(want, name))
            torch.testing.assert_close(next(alone).dense()[0], got.dense()[1], rtol=0, atol=0)


def test_batch_stream_statistics(device):
    """Per-feature frequencies of the streamed batches (many draws of D = draw_steps(batch) steps) at 5
    sigma, and no dependence between the batches of one draw: the per-batch activation counts of
    consecutive steps are uncorrelated (|r| < 5/sqrt(n))."""
    from supdyn.data import BatchStream, draw_steps

    p = frequencies(DataConfig(n_features=64, a=1.1))
    batch = 256
    n_batches = 3 * draw_steps(batch)  # 64 steps per draw
    stream = BatchStream(torch.tensor(p, device=device)[None], batch, [torch_generator(4, device)])
    counts = np.zeros((n_batches, 64))
    for i in range(n_batches):
        x = next(stream)
        assert x.batch == batch and int(x.row.max()) < batch and x.row.device.type == device
        counts[i] = np.bincount(x.col.cpu().numpy(), minlength=64)
    n = batch * n_batches
    z = (counts.sum(0) - n * p) / np.sqrt(n * p * (1 - p))
    assert np.abs(z).max() < 5.0
    tot = counts.sum(1)
    r = np.corrcoef(tot[:-1], tot[1:])[0, 1]
    assert abs(r) < 5 / np.sqrt(n_batches)


def test_draw_size_and_bad_steps_per_draw():
    """16384 samples per model per sampler call: 16 steps at batch 1024, one step from batch 16384 up;
    a bad ``steps_per_draw`` names the field and its range."""
    from supdyn.data import BatchStream, draw_steps

    assert [draw_steps(b) for b in (1, 1024, 1000, 16384, 10**6)] == [16384, 16, 16, 1, 1]
    with pytest.raises(ValueError, match=r"steps_per_draw: got 0; allowed: 1 <= steps_per_draw <= 65535"):
        BatchStream(torch.full((1, 4), 0.5, dtype=torch.float64), 8, [torch_generator(0)], steps_per_draw=0)
