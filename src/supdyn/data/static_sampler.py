"""A sampler with static shapes for the device engine: no host synchronization, no data-dependent size.

The batch × n_features Bernoulli(p_j) grid of a model is drawn exactly as the points of a rate-1
Poisson process on a line of cells: cell (s, j) (sample-major, s = 0..batch−1, j = 0..N−1) covers an
interval of length h_j = −log(1 − p_j), so it holds at least one point with probability
1 − e^{−h_j} = p_j, independently of every other cell. The points are cumulative sums of Exp(1) gaps;
a cell is active when it holds a point, and its value v ~ U(0, c) is c times a uniform drawn with its
first point (c = 1 unless a run sets ``value_max``). Points come out sorted by (sample, feature), so the rows of a batch are contiguous and the
ranks of the non-empty samples are a cumulative sum.

Static shapes: each model draws ``capacity`` points per step, at least the (1 − ε) quantile of
Poisson(batch · Σ_j h_j), and its non-empty samples fill ``rows`` compact rows, at least the (1 − ε)
quantile of Binomial(batch, 1 − e^{−Σ h_j}), with ε = :data:`OVERFLOW_EPS` per model and step. Unused
slots are padding (value 0, target 0: they change nothing). Whether a model ran out of points or rows
is recorded on the device (``overflow``); the engine reads it at evaluation points and stops the run
with an error (never a silently truncated batch). Conditioning on no overflow changes the distribution
of a batch by at most 2ε in total variation.

Random numbers come from a counter-based generator: the uniform of slot c, stream k (0: gap,
1: value) at step t of a model with key κ (its ``train`` stream seed) is
    U = top 53 bits of mix(κ ⊕ mix(t · 2^24 + 2c + k)) · 2^−53,  mix = SplitMix64's finalizer,
so one vectorized call serves every model, a model's batches depend only on its key and step (not on
the models packed with it, nor on the capacity), and the draws are the same on every device. This is a
different stream from :class:`supdyn.data.BatchStream` (the same distribution, other draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from supdyn.data.correlated import Groups, cell_probabilities

OVERFLOW_EPS = 1e-13
"""Probability, per model and step, that a batch needs more points (or rows) than the static capacity."""

SLOT_BITS = 24
"""Counter stride per step: 2^SLOT_BITS counters, 2 per slot (so at most 2^23 slots per model)."""

_M1 = 0xBF58476D1CE4E5B9 - (1 << 64)  # SplitMix64 multipliers as signed int64
_M2 = 0x94D049BB133111EB - (1 << 64)
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)


def _shr(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finalizer on int64 bit patterns (a bijection of 64-bit words; wrapping arithmetic)."""
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def uniforms(keys: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """U(0, 1) float64 in [0, 1): one per (key, counter) pair, broadcast. keys, counters: int64."""
    z = mix64(keys ^ mix64(counters + _GOLDEN))
    return _shr(z, 11).to(torch.float64) * (2.0 ** -53)


def hazards(p: np.ndarray) -> np.ndarray:
    """h_j = −log(1 − p_j), with p_j capped at 1 − 2^−53 (h ≤ 36.7: p = 1 within 1e-16)."""
    return -np.log1p(-np.minimum(np.asarray(p, dtype=np.float64), 1.0 - 2.0 ** -53))


def capacities(p: np.ndarray, batch: int, eps: float = OVERFLOW_EPS) -> tuple[int, int]:
    """(points per model and step, compact rows per model) for frequencies ``p`` (n_models, n_features):
    the largest over the models of the (1 − eps) quantiles of the number of points and of non-empty
    samples (see the module docstring); rows ≤ batch."""
    return capacities_of(hazards(p), batch, eps)


def capacities_of(h: np.ndarray, batch: int, eps: float = OVERFLOW_EPS) -> tuple[int, int]:
    """:func:`capacities` for the cell hazards ``h`` (n_models, n_cells) of one sample row."""
    from scipy.stats import binom, poisson

    h_tot = np.atleast_2d(h).sum(axis=1)  # (n_models,)
    points = int(np.max(poisson.isf(eps, batch * h_tot))) + 2
    q = -np.expm1(-h_tot)  # P(a sample has an active feature)
    rows = int(np.max(binom.isf(eps, batch, q))) + 1
    if points >= 1 << (SLOT_BITS - 1):
        raise ValueError(f"batch: got {batch} with Σ h = {h_tot.max():.3g} per sample; allowed: "
                         f"batch · Σ_j −log(1 − p_j) well below {1 << (SLOT_BITS - 1)} (points per step)")
    return max(points, 1), int(min(max(rows, 1), batch))


@dataclass(frozen=True)
class StaticBatches:
    """``steps`` consecutive batches of ``n_models`` models in static form (leading axis: the step).

    Each model has ``capacity`` entry slots per step and ``rows`` compact rows; slot e of model m is
    flat entry m·capacity + e. Padding slots have value 0 and target 0 (they add nothing anywhere).
      feat:   (steps, n_models·capacity) int64  flat feature m·N + j of the entry
      row:    (steps, n_models·capacity) int64  flat compact row m·rows + r of its sample
      pos:    (steps, n_models·capacity) int64  flat output index (m·rows + r)·N + j
      value:  (steps, n_models·capacity) dtype  x_{s,j} (0 for padding)
      target: (steps, n_models·capacity) dtype  y*_{s,j} = A_j x_{s,j}
    """

    feat: torch.Tensor
    row: torch.Tensor
    pos: torch.Tensor
    value: torch.Tensor
    target: torch.Tensor


class StaticSampler:
    """Draws the training batches of several steps of every model at once, in static shapes (see module).

    p: (n_models, n_features) float64 frequencies; teacher: (n_models, n_features) diagonals of A;
    keys: one int64 key per model (its ``train`` stream seed). ``overflow`` (n_models,) bool on the
    device becomes True if a drawn batch of the model did not fit. ``vmax``: c per model, values
    v ~ U(0, c) (default 1).
    """

    def __init__(self, p: torch.Tensor, teacher: torch.Tensor, batch: int, keys: list[int],
                 dtype: torch.dtype, *, capacity: tuple[int, int] | None = None,
                 groups: Groups | None = None, vmax: list[float] | None = None) -> None:
        dev = p.device
        self.n_models, self.n_features = p.shape
        self.batch, self.dtype, self.groups = batch, dtype, groups
        p_np = p.cpu().numpy()
        h_np = hazards(p_np) if groups is None else self._group_cells(p_np, groups, dev)
        self.capacity, self.rows = capacity or capacities_of(h_np, batch)
        self.points = self.capacity  # points per model and step (entries: ``capacity``)
        if groups is not None and groups.kind == "cooccur":  # group events: a second cell process
            hg = hazards(self._q)
            self.points_g = capacity[0] if capacity else capacities_of(hg, batch)[0]
            if not capacity:
                self.rows = capacities_of(np.concatenate([h_np, hg], axis=1), batch)[1]
            self.capacity = self.points + self.points_g * groups.size
            self.cum_hg = torch.cumsum(torch.from_numpy(hg).to(dev), 1).contiguous()  # (n_models, n_groups)
            self.hg_row = self.cum_hg[:, -1:].clone()
        if self.capacity >= 1 << SLOT_BITS:
            raise ValueError(f"batch: got {batch}: {self.capacity} entry slots per step; allowed: fewer than "
                             f"{1 << SLOT_BITS} (a smaller batch or group_size)")
        h = torch.from_numpy(h_np).to(dev)  # (n_models, n_cells)
        self.cum_h = torch.cumsum(h, 1).contiguous()  # (n_models, n_cells) inclusive
        self.h_row = self.cum_h[:, -1:].clone()  # (n_models, 1): hazard of one sample
        self.teacher = teacher.reshape(-1)  # (n_models·N,)
        self.keys = torch.tensor([int(k) % (1 << 63) for k in keys], dtype=torch.int64, device=dev)
        m, c = self.n_models, self.points
        self.slot = torch.arange(c, dtype=torch.int64, device=dev) * 2  # (C,) counter of slot c, stream 0
        self.model_n = (torch.arange(m, device=dev) * self.n_features)[:, None]  # (n_models, 1)
        self.model_r = (torch.arange(m, device=dev) * self.rows)[:, None]  # (n_models, 1)
        self.overflow = torch.zeros(m, dtype=torch.bool, device=dev)
        scaled = vmax is not None and any(c != 1 for c in vmax)
        self.vmax = torch.tensor(vmax, dtype=torch.float64, device=dev)[None, :, None] if scaled else None

    def _group_cells(self, p: np.ndarray, groups: Groups, dev: torch.device) -> np.ndarray:
        """Cell hazards (n_models, n_cells) of correlated features, and the tables their draw needs."""
        n = self.n_features
        r, q = cell_probabilities(p, groups)  # (n_models, N), (n_models, n_groups)
        starts = groups.starts(n)
        self.group_start = torch.from_numpy(starts).to(dev)  # (n_groups,)
        self.group_len = torch.from_numpy(np.minimum(groups.size, n - starts)).to(dev)
        self.group_of, self.n_groups = torch.from_numpy(groups.group_of(n)).to(dev), len(starts)  # (N,)
        if groups.kind == "exclusive":  # one cell per member, C_i = Σ_{j ≤ i in G} p_j: h_i = log((1 − C_{i−1})/(1 − C_i))
            cs = np.cumsum(p, axis=1)
            before = np.concatenate([np.zeros((p.shape[0], 1)), cs], 1)[:, starts]  # (n_models, n_groups)
            c_in = np.minimum(cs - before[:, groups.group_of(n)], 1.0 - 2.0 ** -53)  # (n_models, N)
            c_prev = np.minimum(np.maximum(c_in - p, 0.0), c_in)
            return np.maximum(np.log1p(-c_prev) - np.log1p(-c_in), 0.0)
        self._q = q
        return hazards(r)  # the single-feature cells (the group events are a second process)

    def draw(self, step: torch.Tensor, steps: int = 1) -> StaticBatches:
        """The batches of steps ``step`` … ``step + steps − 1`` (``step``: 0-d int64 tensor on the device)."""
        if self.groups is not None:
            return draw_groups(self, step, steps)
        m, n, c, d, b = self.n_models, self.n_features, self.points, steps, self.batch
        dev = self.keys.device
        t = step + torch.arange(d, dtype=torch.int64, device=dev)  # (steps,)
        ctr = (t[:, None] << SLOT_BITS) + self.slot  # (steps, C)
        keys = self.keys[None, :, None]  # (1, n_models, 1)
        gap = -torch.log1p(-uniforms(keys, ctr[:, None, :]))  # (steps, n_models, C) Exp(1)
        val = uniforms(keys, ctr[:, None, :] + 1)  # (steps, n_models, C) U(0, 1)
        if self.vmax is not None:
            val = val * self.vmax  # U(0, c)
        lam = torch.cumsum(gap, 2)  # (steps, n_models, C) point positions
        valid = lam < b * self.h_row  # (steps, n_models, C)
        self.overflow |= valid[:, :, -1].any(0)  # the last slot still inside: points may be missing
        s = torch.floor(lam / self.h_row).clamp_(0, b - 1)  # (steps, n_models, C) sample
        r = lam - s * self.h_row  # position within the sample's row of cells
        r = r.transpose(0, 1).reshape(m, d * c)  # (n_models, steps·C)
        j = torch.searchsorted(self.cum_h, r, right=True).view(m, d, c).transpose(0, 1).contiguous()
        j = j.clamp(max=n - 1)  # (steps, n_models, C) feature
        s = s.long()
        cell = s * n + j  # (steps, n_models, C)
        first = torch.ones_like(valid)
        first[:, :, 1:] = cell[:, :, 1:] != cell[:, :, :-1]  # later points in a cell add nothing
        active = valid & first
        new_row = valid.clone()
        new_row[:, :, 1:] &= s[:, :, 1:] != s[:, :, :-1]  # first point of a sample
        rank = torch.cumsum(new_row, 2) - 1  # (steps, n_models, C) compact row of the sample
        self.overflow |= (rank[:, :, -1] >= self.rows).any(0)
        rank.clamp_(0, self.rows - 1)
        value = torch.where(active, val, 0.0).to(self.dtype)
        feat = self.model_n + j  # (steps, n_models, C)
        row = self.model_r + rank
        target = self.teacher[feat] * value
        return StaticBatches(feat.view(d, m * c), row.view(d, m * c), (row * n + j).view(d, m * c),
                             value.view(d, m * c), target.view(d, m * c))


def to_sparse(batches: StaticBatches, k: int, n_models: int, rows: int, n_features: int, batch: int):
    """Batch ``k`` of ``batches`` as a :class:`supdyn.data.SparseBatch` in which the compact rows are the
    first samples of each model (for comparisons with the sparse step; syncs, not for the hot loop)."""
    from supdyn.data.sampler import SparseBatch

    keep = batches.value[k] != 0
    row = batches.row[k][keep]
    model = torch.div(row, rows, rounding_mode="floor")
    sample = model * batch + (row - model * rows)
    col = batches.feat[k][keep] - model * n_features
    return SparseBatch(sample, col, batches.value[k][keep], n_models, batch, n_features)


class StaticStream:
    """The training batches of a :class:`StaticSampler` as an iterator of :class:`supdyn.data.SparseBatch`
    (step 0, 1, …; ``steps_per_draw`` steps per sampler call): the data the static engine trains on, for
    the sparse engine on correlated features and for reference trainers. Syncs."""

    def __init__(self, sampler: StaticSampler, steps_per_draw: int = 1) -> None:
        self.sampler, self.steps = sampler, max(1, int(steps_per_draw))
        self.step = torch.zeros((), dtype=torch.int64, device=sampler.keys.device)
        self._ready: list = []

    def __iter__(self) -> "StaticStream":
        return self

    def __next__(self):
        if not self._ready:
            s = self.sampler
            x = s.draw(self.step, self.steps)
            self._ready = [to_sparse(x, k, s.n_models, s.rows, s.n_features, s.batch)
                           for k in range(self.steps)][::-1]
            self.step += self.steps
        return self._ready.pop()


VALUE_SALT = 0x5D1E7A1C3B9F0E27
"""Key salt of the value uniforms of correlated draws (a stream apart from the points): word w of a step
gives the values of entry slots w (its high 32 bits) and half + w (its low 32 bits), U = bits · 2^−32."""
GROUP_SALT = 0x2C6B1E9D7A3F5081
"""Key salt of the group-event points of co-occurring features (a stream apart from the single features)."""


def _points(smp: StaticSampler, keys: torch.Tensor, ctr: torch.Tensor, cum_h: torch.Tensor, h_row: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The points of one cell process: (sample (steps, n_models, C) int64, cell (same), valid (same)); the
    overflow flag is updated. ctr: (steps, C) counters of the gaps."""
    m, b = smp.n_models, smp.batch
    d, c = ctr.shape
    lam = torch.cumsum(-torch.log1p(-uniforms(keys, ctr[:, None, :])), 2)  # (steps, n_models, C) points
    valid = lam < b * h_row
    smp.overflow |= valid[:, :, -1].any(0)
    s = torch.floor(lam / h_row).clamp_(0, b - 1)  # (steps, n_models, C) sample
    r = (lam - s * h_row).transpose(0, 1).reshape(m, d * c)  # (n_models, steps·C)
    cell = torch.searchsorted(cum_h, r, right=True).clamp_(max=cum_h.shape[1] - 1)
    return s.long(), cell.view(m, d, c).transpose(0, 1).contiguous(), valid


def _first_in_cell(s: torch.Tensor, cell: torch.Tensor, n_cells: int) -> torch.Tensor:
    """The first point of each occupied cell (later points in a cell add nothing)."""
    key = s * n_cells + cell
    first = torch.ones_like(key, dtype=torch.bool)
    first[:, :, 1:] = key[:, :, 1:] != key[:, :, :-1]
    return first


def draw_groups(smp: StaticSampler, step: torch.Tensor, d: int) -> StaticBatches:
    """:meth:`StaticSampler.draw` for correlated features (:mod:`supdyn.data.correlated`). Exclusive: points
    over one cell per member; the first point among a group's cells decides its member. Co-occurrence: the
    single-feature process and the group-event process (another key), group points switch on their whole
    group; a single-feature point whose group fires in the same sample is dropped (a feature switched on
    twice counts once). Static shapes, no host sync."""
    m, n, c, b = smp.n_models, smp.n_features, smp.points, smp.batch
    dev = smp.keys.device
    t = step + torch.arange(d, dtype=torch.int64, device=dev)  # (steps,)
    ctr = (t[:, None] << SLOT_BITS) + smp.slot  # (steps, C)
    keys = smp.keys[None, :, None]  # (1, n_models, 1)
    s, cell, valid = _points(smp, keys, ctr, smp.cum_h, smp.h_row)
    if smp.groups.kind == "exclusive":  # member i is on when the first point of its group's cells is in i's
        j, width = cell, c
        active = valid & _first_in_cell(s, smp.group_of[cell], smp.n_groups)
        new_row = active.clone()
        new_row[:, :, 1:] &= s[:, :, 1:] != s[:, :, :-1]  # first entry of a sample (entries sorted by sample)
        rank = torch.cumsum(new_row, 2) - 1  # (steps, n_models, width) compact row of the sample
        last = rank[:, :, -1]
    else:
        e, cg = smp.groups.size, smp.points_g
        singles = valid & _first_in_cell(s, cell, n)
        ctr_g = (t[:, None] << SLOT_BITS) + 2 * torch.arange(cg, device=dev)  # (steps, Cg)
        sg, g, valid_g = _points(smp, keys ^ GROUP_SALT, ctr_g, smp.cum_hg, smp.hg_row)  # (steps, n_models, Cg)
        vg = valid_g & _first_in_cell(sg, g, smp.n_groups)
        big = b * smp.n_groups  # past every real (sample, group) key
        gkey = torch.where(valid_g, sg * smp.n_groups + g, big)  # (steps, n_models, Cg) ascending
        skey = s * smp.n_groups + smp.group_of[cell]  # (steps, n_models, C) each single's (sample, group)
        at = torch.searchsorted(gkey, skey).clamp_(max=cg - 1)
        singles &= torch.gather(gkey, 2, at) != skey  # its group fires in that sample: counted there
        k = torch.arange(e, device=dev)  # (E,) members of a group
        feat_g = (smp.group_start[g][..., None] + k).clamp(max=n - 1)  # (steps, n_models, Cg, E)
        live_g = vg[..., None] & (k < smp.group_len[g][..., None])
        width = c + cg * e
        active = torch.cat([singles, live_g.view(d, m, cg * e)], dim=2)  # (steps, n_models, width)
        s = torch.cat([s, sg[..., None].expand(d, m, cg, e).reshape(d, m, cg * e)], dim=2)
        j = torch.cat([cell, feat_g.view(d, m, cg * e)], dim=2)
        # entries not sorted by sample: the compact row of each non-empty sample from an occupancy table
        occ = torch.zeros(d, m, b, dtype=torch.int64, device=dev).scatter_add_(2, s, active.long())
        table = torch.cumsum(occ > 0, 2) - 1  # (steps, n_models, batch)
        rank, last = torch.gather(table, 2, s), table[:, :, -1]
    smp.overflow |= (last >= smp.rows).any(0)
    rank.clamp_(0, smp.rows - 1)
    half = (width + 1) // 2  # one 64-bit word gives two 32-bit value uniforms
    vctr = (t[:, None] << SLOT_BITS) + torch.arange(half, device=dev)  # (steps, half)
    z = mix64((keys ^ VALUE_SALT) ^ mix64(vctr[:, None, :] + _GOLDEN))  # (steps, n_models, half)
    val = torch.cat([_shr(z, 32), z & 0xFFFFFFFF], dim=2)[:, :, :width].to(torch.float64) * 2.0 ** -32
    if smp.vmax is not None:
        val = val * smp.vmax  # U(0, c)
    value = torch.where(active, val, 0.0).to(smp.dtype)
    feat = smp.model_n + j
    row = smp.model_r + rank
    target = smp.teacher[feat] * value
    return StaticBatches(feat.view(d, m * width), row.view(d, m * width), (row * n + j).view(d, m * width),
                         value.view(d, m * width), target.view(d, m * width))
