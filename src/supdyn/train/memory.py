"""Memory of a pack on the static (device) engine, estimated before anything is allocated, and the
largest pack that fits: ``--max-models auto``.

Per model (f bytes per float, N features, K hidden, R compact rows, C entry slots, D steps per draw):
parameters and their gradients (2× the learned size), the fixed embedding (W and Wᵀ: 2NK), the step's
intermediates (pre/G: R·N; H, Z, G Dᵀ: 3·R·K; learnable: ∂D K·N and per-entry rows C·K; none: y R·N
and two C·N row blocks), Adam's two moments and its dense gradient with temporaries (3× the learned
size more; SGD: none), the sampler's block (about 112 bytes per slot and step: D·C slots), the
evaluation chunk (``chunk`` rows · N floats and the float64 per-feature sums) and the held-out set
(about 24 bytes per active entry). A safety factor covers the allocator's rounding.
"""

from __future__ import annotations

import numpy as np

from supdyn.config import RunConfig
from supdyn.data import frequencies
from supdyn.data.static_sampler import capacities

SAFETY = 1.5
"""Factor on the estimate (caching-allocator blocks, CUDA graph pools, workspace)."""


def model_bytes(cfg: RunConfig, *, steps_per_draw: int = 16, eval_chunk: int = 4096) -> int:
    """Estimated device memory of one model of ``cfg`` on the static engine, bytes (see module)."""
    n, k, bs = cfg.data.n_features, cfg.model.d_hidden, cfg.train.batch
    f = 8 if cfg.train.dtype == "float64" else 4
    p = frequencies(cfg.data)
    cap, rows = capacities(p[None], bs)
    spec = cfg.spec
    if not spec.superposition:
        learned, fixed, inter = n * n, 0, rows * n + cap * n * 2 + rows * n
    else:
        embedding = (n * k if spec.embedding == "tied" else 2 * n * k) if spec.learned_embedding else 0
        learned = (k * k if spec.has_B else 0) + (n if spec.relu_bias else 0) + embedding
        fixed = 0 if spec.learned_embedding else 2 * n * k
        inter = rows * n + 3 * rows * k + ((k * n + 2 * cap * k) if spec.learned_embedding else 0)
    density = float(-np.expm1(-np.sum(-np.log1p(-np.minimum(p, 1 - 2.0 ** -53)))))  # non-empty fraction
    eval_rows = min(eval_chunk, cfg.train.eval_size) * density
    floats = (2 + (3 if cfg.train.optimizer != "sgd" else 0)) * learned + fixed + inter + eval_rows * n
    other = 112 * steps_per_draw * cap + 8 * n * 2 + 24 * cfg.train.eval_size * float(np.sum(p))
    return int(SAFETY * (f * floats + other))


EVAL_BUDGET = 3 << 29
"""Bytes set aside for an evaluation chunk of a large pack (see :func:`eval_chunk`) and workspaces."""


def auto_max_models(cfg: RunConfig, free_bytes: int, *, fraction: float = 0.8, cap: int = 4096) -> int:
    """Most models of ``cfg``'s shape that fit in ``fraction`` of ``free_bytes`` besides the evaluation
    chunk (:data:`EVAL_BUDGET`); at least 1, at most ``cap``."""
    room = fraction * free_bytes - EVAL_BUDGET
    return int(max(1, min(cap, room // model_bytes(cfg, eval_chunk=0))))


def eval_chunk(n_models: int, n_features: int, *, budget_floats: int = 1 << 28) -> int:
    """Rows per evaluation chunk so that a chunk's output (n_models · rows · N) stays near 1 GiB of floats."""
    return int(min(4096, max(256, budget_floats // max(1, n_models * n_features))))
