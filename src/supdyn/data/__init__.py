"""Sparse features, teacher and the batched sampler (paper Sec. 2.1).

Features (eq. 1): x_i = u_i v_i with u_i ~ Bernoulli(p_i) and v_i ~ U(0, 1), so
    E[x_i] = p_i / 2,   E[x_i²] = p_i / 3,   E[x_i x_j] = p_i p_j / 4  (i ≠ j).
Teacher (eq. 2): y* = A x with A = diag(a_i), a_i = i^-b.

Dimension names used everywhere: ``n_models`` (independent models trained together), ``batch``,
``n_features`` (N) and ``d_hidden`` (K).

:mod:`supdyn.data.laws`: frequencies p_i, the teacher diagonal, exact moments, a stable learning rate.
:mod:`supdyn.data.sampler`: :class:`SparseBatch`, :func:`sample`, the training :class:`BatchStream`
and the named random streams of a run.
"""

from supdyn.data.correlated import Groups
from supdyn.data.laws import (frequencies, groups_of, importance_weights, max_eigenvalue, moments, second_moment,
                              second_moment_of, stable_lr_bound, teacher_diagonal)
from supdyn.data.sampler import (ROW_P, SAMPLES_PER_DRAW, STREAMS, BatchStream, SparseBatch, draw_steps,
                                 sample, stream_seed, teacher_output, torch_generator)

__all__ = ["Groups", "frequencies", "groups_of", "importance_weights", "second_moment_of", "max_eigenvalue", "moments", "second_moment", "stable_lr_bound", "teacher_diagonal",
           "ROW_P", "SAMPLES_PER_DRAW", "STREAMS", "BatchStream", "SparseBatch", "draw_steps", "sample",
           "stream_seed", "teacher_output", "torch_generator"]
