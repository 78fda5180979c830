"""The batched sampler of sparse features, the training batch stream and the named random streams.

The sampler draws, for each model, the active set of a (batch × n_features) Bernoulli grid without
touching every cell: per feature the number of active samples is Binomial(batch, p_i), and the
active samples are a uniform subset of that size (drawn with replacement, duplicates redrawn — a
permutation-invariant procedure, hence exactly uniform); the few features with p_i > ROW_P = 1/16
are drawn as Bernoulli rows instead. Cost O(n_features + batch·E) per model.
Every model draws from its own ``torch.Generator``, so a model's data do not depend on which other
models it is trained with. On the CPU the duplicate bookkeeping runs in NumPy (small-array torch ops
cost ~5 µs each); the random draws, their order and hence the samples are the same bit for bit as
the torch version used on other devices. Training draws several steps' batches in one call
(:class:`BatchStream`: 16 steps at batch 1024), which pays the ~30 small operations of a call once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class SparseBatch:
    """Samples of ``n_models`` models in coordinate form.

    row:    (nnz,) int64, flattened sample index  m * batch + s  in [0, n_models * batch)
    col:    (nnz,) int64, feature index j in [0, n_features)
    value:  (nnz,) float, x_{m,s,j} ∈ (0, 1)
    """

    row: torch.Tensor
    col: torch.Tensor
    value: torch.Tensor
    n_models: int
    batch: int
    n_features: int

    @property
    def model(self) -> torch.Tensor:
        """(nnz,) model index of every entry."""
        return torch.div(self.row, self.batch, rounding_mode="floor")

    @property
    def flat_col(self) -> torch.Tensor:
        """(nnz,) index m * n_features + j into a per-model feature axis flattened over models."""
        return self.model * self.n_features + self.col

    def dense(self) -> torch.Tensor:
        """Dense x, shape (n_models, batch, n_features)."""
        x = torch.zeros(self.n_models * self.batch * self.n_features, dtype=self.value.dtype,
                        device=self.value.device)
        x[self.row * self.n_features + self.col] = self.value
        return x.view(self.n_models, self.batch, self.n_features)  # (n_models, batch, n_features)

    def models(self, keep: "np.ndarray | list[int]") -> "SparseBatch":
        """The samples of the models ``keep`` (in that order), renumbered 0..len(keep)-1."""
        keep_t = torch.as_tensor(np.asarray(keep, dtype=np.int64), device=self.row.device)
        new = torch.full((self.n_models,), -1, dtype=torch.int64, device=self.row.device)
        new[keep_t] = torch.arange(keep_t.numel(), device=self.row.device)
        nm = new[self.model]  # (nnz,) new model index or -1
        mask = nm >= 0
        order = torch.argsort(nm[mask], stable=True)  # entries grouped by new model, order kept within
        row = (nm[mask] * self.batch + self.row[mask] % self.batch)[order]
        return SparseBatch(row, self.col[mask][order], self.value[mask][order], int(keep_t.numel()), self.batch,
                           self.n_features)

    def select(self, start: int, stop: int) -> "SparseBatch":
        """Samples start..stop-1 of every model (used to evaluate in chunks)."""
        s = self.row % self.batch
        keep = (s >= start) & (s < stop)
        m = self.row[keep] // self.batch
        row = m * (stop - start) + (s[keep] - start)
        return SparseBatch(row, self.col[keep], self.value[keep], self.n_models, stop - start,
                           self.n_features)


ROW_P = 1.0 / 16
"""Features with p_j > ROW_P are drawn as a Bernoulli row (batch uniforms compared with p_j) instead of
a binomial count and distinct positions: rejection of repeated positions gets slow as a feature's fill
grows (a coupon-collector loop as p_j → 1), and the few frequent features hold most of the repeats."""


def numpy_path(t: torch.Tensor) -> bool:
    """Whether the NumPy code paths apply to ``t`` (CPU tensors: NumPy's small-array operations are
    cheaper than torch's); the torch paths serve every other device. The one switch for supdyn.data and
    supdyn.model."""
    return t.device.type == "cpu"


def _counts_and_rows(p: torch.Tensor, batch: int, gen: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The first draws of one model's batch (p: (n_features,)): Binomial(batch, p_j) counts, 0 for the
    row features (p_j > ROW_P), then the row features' uniforms. Returns (counts (n_features,) int64,
    row features jb (n_rows,) or None, hit (n_rows, batch) bool = u < p_jb or None)."""
    big = p > ROW_P  # (n_features,) row features
    counts = torch.binomial(torch.full_like(p, float(batch)), torch.where(big, 0.0, p), generator=gen).long()
    if not bool(big.any()):
        return counts, None, None
    jb = torch.nonzero(big).squeeze(1)  # (n_rows,)
    u = torch.rand((jb.numel(), batch), generator=gen, dtype=torch.float64, device=p.device)
    return counts, jb, u < p[jb][:, None]


def _active_set_torch(p: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Active (sample, feature) pairs of a batch × N Bernoulli(p_j) grid for one model, in torch ops
    (any device; used off the CPU): per feature with p_j ≤ ROW_P a Binomial(batch, p_j) count, then
    that many distinct uniform positions (repeats redrawn); per feature with p_j > ROW_P a row of batch
    uniforms u, active where u < p_j. Returns (pos (nnz,), col (nnz,)), int64, sorted by feature.

    Draws, in this order: the binomial counts (p_j set to 0 for row features), the row uniforms (float64,
    (n_rows, batch)), the positions, the redraws round by round."""
    n = p.numel()
    counts, jb, hit = _counts_and_rows(p, batch, gen)
    col = torch.repeat_interleave(torch.arange(n, device=p.device), counts)
    pos = torch.randint(batch, col.shape, generator=gen, device=p.device)
    while True:  # redraw duplicate (feature, sample) pairs until the subset of each feature is distinct
        key = col * batch + pos
        order = torch.argsort(key, stable=True)
        k_sorted = key[order]
        dup = torch.zeros_like(key, dtype=torch.bool)
        dup[order[1:]] = k_sorted[1:] == k_sorted[:-1]  # every repeat of a key after its first
        n_dup = int(dup.sum())
        if n_dup == 0:
            break
        pos[dup] = torch.randint(batch, (n_dup,), generator=gen, device=p.device)
    if hit is None:
        return pos, col
    r, s = torch.nonzero(hit, as_tuple=True)  # sorted by (row, sample)
    col, pos = torch.cat([col, jb[r]]), torch.cat([pos, s])
    order = torch.argsort(col, stable=True)
    return pos[order], col[order]


def _active_sets_numpy(p: torch.Tensor, batch: int, generators: list[torch.Generator]
                       ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The active sets of every model at once, on the CPU: (row (nnz,), col (nnz,)) int64 with
    row = m·batch + s, sorted by (model, feature), and the number of entries of each model.

    p: (n_models, n_features). Model m's generator gets the calls of :func:`_active_set_torch`, in the
    same order and with the same sizes, so each model's set equals it bit for bit (and a model's set does
    not depend on the others packed with it); the bookkeeping runs in NumPy, and the duplicate search
    once per round for all models (one sort instead of one per model; fewer op overheads).
    """
    n_models, n = p.shape
    drawn, pos, nnz, row_col, row_pos = [], [], [], [], []
    for m, gen in enumerate(generators):
        counts, jb, hit = _counts_and_rows(p[m], batch, gen)
        k = counts.numpy()
        n_drawn, n_row = int(k.sum()), 0
        if hit is not None:
            r, s = np.nonzero(hit.numpy())  # sorted by (row, sample)
            row_col.append(m * n + jb.numpy()[r])
            row_pos.append(s)
            n_row = r.size
        drawn.append(k)
        nnz.append(n_drawn + n_row)
        pos.append(torch.randint(batch, (n_drawn,), generator=gen).numpy())
    one = n_models == 1
    drawn_all = drawn[0] if one else np.concatenate(drawn)  # (n_models * n,)
    fcol = np.repeat(np.arange(n_models * n, dtype=np.int64), drawn_all)  # (nnz,) m·n + j, sorted
    pos_all = pos[0] if one else np.concatenate(pos)  # (nnz,)
    # Redraw duplicate (model, feature, sample) keys until each feature's subset is distinct. After the
    # first round only the features that had a redraw can hold a repeat (no other key changed), so the
    # search is restricted to their entries: the same repeats, redrawn in the same (index) order.
    idx = None  # (n_checked,) increasing entry indices under search (None: all)
    redrawn = np.zeros(n_models * n, dtype=bool)  # (n_models * n,) features with a redraw last round
    while True:
        key = fcol * batch + pos_all if idx is None else fcol[idx] * batch + pos_all[idx]
        order = np.argsort(key, kind="stable")
        k_sorted = key[order]
        dup = np.zeros(key.size, dtype=bool)
        dup[order[1:]] = k_sorted[1:] == k_sorted[:-1]  # every repeat of a key after its first
        where = np.flatnonzero(dup) if idx is None else idx[dup]  # (n_dup,) increasing: grouped by model
        if where.size == 0:
            break
        per_model = [where.size] if one else np.bincount(fcol[where] // n, minlength=n_models)
        pos_all[where] = np.concatenate([torch.randint(batch, (int(k),), generator=generators[m]).numpy()
                                         for m, k in enumerate(per_model) if k])
        redrawn[:] = False
        redrawn[fcol[where]] = True
        idx = np.flatnonzero(redrawn[fcol])
    if row_col:  # the row features' entries, merged in by feature
        fcol, pos_all = np.concatenate([fcol, *row_col]), np.concatenate([pos_all, *row_pos])
        order = np.argsort(fcol, kind="stable")
        fcol, pos_all = fcol[order], pos_all[order]
    if one:
        return pos_all, fcol, nnz
    model = fcol // n
    return model * batch + pos_all, fcol - model * n, nnz


def _active_set_numpy(p: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_active_set_torch` for one model (p: (n_features,)) through :func:`_active_sets_numpy`."""
    pos, col, _ = _active_sets_numpy(p[None], batch, [gen])
    return torch.from_numpy(pos), torch.from_numpy(col)


def sample(p: torch.Tensor, batch: int, generators: list[torch.Generator],
           dtype: torch.dtype = torch.float32, vmax: Sequence[float] | None = None) -> SparseBatch:
    """Draw ``batch`` samples for each model.

    p: (n_models, n_features) float64 frequencies; one generator per model (its data stream): the
    active set (:func:`_active_set_torch`; on the CPU :func:`_active_sets_numpy`, the same draws), then
    the values v ~ U(0, 1) in float64, times c = ``vmax[m]`` (v ~ U(0, c); default c = 1), rounded to
    ``dtype``.
    """
    n_models, n_features = p.shape
    if numpy_path(p):
        row_np, col_np, nnz = _active_sets_numpy(p, batch, generators)
        row, col = torch.from_numpy(row_np), torch.from_numpy(col_np)
    else:
        sets = [_active_set_torch(p[m], batch, g) for m, g in enumerate(generators)]
        nnz = [c.numel() for _, c in sets]
        row = torch.cat([pos + m * batch for m, (pos, _) in enumerate(sets)])
        col = torch.cat([c for _, c in sets])
    vals = [torch.rand((k,), generator=g, dtype=torch.float64, device=p.device) for k, g in zip(nnz, generators)]
    if vmax is not None:
        vals = [v if c == 1 else v * float(c) for v, c in zip(vals, vmax)]
    value = (vals[0] if len(vals) == 1 else torch.cat(vals)).to(dtype)
    return SparseBatch(row, col, value, n_models, batch, n_features)


SAMPLES_PER_DRAW = 16384
"""Training batches are drawn ⌊SAMPLES_PER_DRAW / batch⌋ steps at a time (at least one; 16 steps at
batch 1024), see :class:`BatchStream`. Part of the definition of every training stream: changing it
changes every training curve (and needs a new SCHEMA_VERSION)."""


def draw_steps(batch: int) -> int:
    """Steps whose batches :class:`BatchStream` draws in one sampler call: max(1, ⌊16384 / batch⌋)."""
    return max(1, SAMPLES_PER_DRAW // batch)


class BatchStream:
    """The training batches of ``n_models`` models, ``batch`` samples each per step: an endless iterator
    of :class:`SparseBatch`, the models' training data streams.

    Batches are drawn D = ``steps_per_draw`` (default :func:`draw_steps` (batch)) steps at a time:
    one :func:`sample` call of D·batch samples per model, whose samples k·batch … (k+1)·batch − 1 are
    the batch of the k-th step (the samples of a draw are independent, so are these batches;
    ``SparseBatch.select`` would cut the same). The sampler's per-call costs (the binomial draw, the
    duplicate rounds, ~30 small operations) are paid once per D steps. Model m's batches depend only
    on its generator and the batch size, not on the models packed with it. ``vmax``: see :func:`sample`.
    """

    def __init__(self, p: torch.Tensor, batch: int, generators: list[torch.Generator],
                 dtype: torch.dtype = torch.float32, *, steps_per_draw: int | None = None,
                 vmax: Sequence[float] | None = None) -> None:
        d = draw_steps(batch) if steps_per_draw is None else steps_per_draw
        if not 1 <= d <= 65535:
            raise ValueError(f"steps_per_draw: got {d}; allowed: 1 <= steps_per_draw <= 65535")
        self.p, self.batch, self.generators, self.dtype, self.vmax = p, batch, generators, dtype, vmax
        self.steps_per_draw = d
        self._ready: list[SparseBatch] = []  # drawn batches, the next one last

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> SparseBatch:
        if not self._ready:
            self._ready = self._draw()[::-1]
        return self._ready.pop()

    def _draw(self) -> list[SparseBatch]:
        """The next D batches."""
        x = sample(self.p, self.steps_per_draw * self.batch, self.generators, self.dtype, self.vmax)
        split = _split_numpy if numpy_path(x.row) else _split_torch
        return split(x, self.steps_per_draw)


def _split_numpy(x: SparseBatch, d: int) -> list[SparseBatch]:
    """Cut a draw of d·b samples per model into d batches of b (samples k·b … (k+1)·b − 1 form
    batch k), entries in (model, feature) order within each; NumPy on the CPU (radix-sorts the step)."""
    b = x.batch // d
    model, s = np.divmod(x.row.numpy(), x.batch)  # (nnz,) model, sample within the draw
    step, s = np.divmod(s, b)  # (nnz,) batch index k, sample within batch k
    order = np.argsort(step.astype(np.uint16), kind="stable")  # (model, feature) → (k, model, feature)
    ends = np.cumsum(np.bincount(step, minlength=d)).tolist()
    row = torch.from_numpy((model * b + s)[order])
    col, value = (torch.from_numpy(t.numpy()[order]) for t in (x.col, x.value))
    return _cut(row, col, value, ends, x.n_models, b, x.n_features)


def _split_torch(x: SparseBatch, d: int) -> list[SparseBatch]:
    """:func:`_split_numpy` in torch operations (any device)."""
    b = x.batch // d
    model = torch.div(x.row, x.batch, rounding_mode="floor")  # (nnz,)
    step = torch.div(x.row - model * x.batch, b, rounding_mode="floor")  # (nnz,) batch index k
    order = torch.argsort(step, stable=True)
    ends = torch.cumsum(torch.bincount(step, minlength=d), 0).tolist()
    row = x.row - (model * (d - 1) + step) * b  # m·d·b + k·b + s → m·b + s
    return _cut(row[order], x.col[order], x.value[order], ends, x.n_models, b, x.n_features)


def _cut(row: torch.Tensor, col: torch.Tensor, value: torch.Tensor, ends: list[int], n_models: int,
         batch: int, n_features: int) -> list[SparseBatch]:
    out, lo = [], 0
    for hi in ends:
        out.append(SparseBatch(row[lo:hi], col[lo:hi], value[lo:hi], n_models, batch, n_features))
        lo = hi
    return out


def teacher_output(x: SparseBatch, teacher: torch.Tensor) -> torch.Tensor:
    """Values of y* = A x at the active entries: (nnz,) = a_{m, j} x_{m, s, j}.

    teacher: (n_models, n_features). y* is zero wherever x is.
    """
    return teacher.reshape(-1)[x.flat_col] * x.value  # flat (n_models * n_features,) lookup


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``seed`` (no global RNG is touched)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) % (2**63))
    return gen


STREAMS = ("embedding", "init", "train", "eval")


def stream_seed(seed: int, stream: str) -> int:
    """Seed of one named random stream of a run (embedding W, init, train data, eval data).

    Derived by hashing, so streams are independent of each other and of the other runs' seeds.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream: got {stream!r}; allowed: one of {', '.join(STREAMS)}")
    digest = hashlib.sha256(f"supdyn:{int(seed)}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
