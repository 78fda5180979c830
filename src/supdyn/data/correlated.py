"""Correlated features: groups that co-occur or exclude each other, their exact second moment, and their
sampler with static shapes (the cell process of :mod:`supdyn.data.static_sampler`, generalized).

Features form consecutive groups of ``group_size`` (the last one may be shorter). Every p_i is kept.
* ``cooccur`` (strength ρ): a group G has an event with probability q_G = ρ · min_{i∈G} p_i, which switches
  every member on; member i also fires alone with probability r_i = 1 − (1 − p_i)/(1 − q_G), so
  P(u_i = 1) = 1 − (1 − q_G)(1 − r_i) = p_i, and for i ≠ j in G: P(u_i u_j) = q_G + (1 − q_G) r_i r_j.
* ``exclusive``: a group is active with probability P_G = Σ_{i∈G} p_i (≤ 1) and then exactly one member,
  i with probability p_i / P_G: at most one member is on, P(u_i) = p_i, P(u_i u_j) = 0 in a group.
Values v_i ~ U(0, 1) stay independent of everything, so E[x_i x_j] = P(u_i u_j)/4 (i ≠ j), E[x_i²] = p_i/3.

The sampler draws, per sample row, the points of a rate-1 Poisson process over "cells". Co-occurrence:
the N single-feature cells (hazard −log(1 − r_i)) and the group-event cells (−log(1 − q_G)); a cell is on
when it holds a point, a group-event point switches on every member (entries merged with the single-feature
ones: a feature is on if any of its cells is). Exclusive: one cell per feature with hazard
h_i = log((1 − C_{i−1})/(1 − C_i)), C_i = Σ_{j ≤ i, j ∈ G} p_j, and member i is on when it holds the first
point among its group's cells: P = e^{−Σ_{j<i} h_j}(1 − e^{−h_i}) = (1 − C_{i−1}) − (1 − C_i) = p_i, and
no two members are on together (one searchsorted over N cells, as for independent features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CORRELATED = ("cooccur", "exclusive")


@dataclass(frozen=True)
class Groups:
    """How the features of a pack of models are grouped: ``kind`` (cooccur, exclusive), ``size`` (shared by
    the pack) and the per-model co-occurrence strength ``rho`` (ignored for exclusive groups)."""

    kind: str
    size: int
    rho: tuple[float, ...]

    def starts(self, n: int) -> np.ndarray:
        """First feature of every group, (n_groups,)."""
        return np.arange(0, n, self.size)

    def group_of(self, n: int) -> np.ndarray:
        """Group of every feature, (N,)."""
        return np.arange(n) // self.size


def cell_probabilities(p: np.ndarray, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """(single-feature cell probabilities (n_models, N), group cell probabilities (n_models, n_groups)) for
    p (n_models, N): cooccur (r_i, q_G), exclusive (zeros, P_G)."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    starts, idx = groups.starts(p.shape[1]), groups.group_of(p.shape[1])
    if groups.kind == "exclusive":
        return np.zeros_like(p), np.minimum(np.add.reduceat(p, starts, axis=1), 1.0)
    q = np.asarray(groups.rho, dtype=np.float64)[:, None] * np.minimum.reduceat(p, starts, axis=1)
    qi = q[:, idx]  # (n_models, N) the group event probability of each feature's group
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(qi >= 1.0, 0.0, 1.0 - (1.0 - p) / (1.0 - qi))
    return np.clip(r, 0.0, 1.0), q


def pair_probabilities(p: np.ndarray, groups: Groups) -> np.ndarray:
    """P(u_i = 1, u_j = 1) for one model (p: (N,), ``groups.rho`` its strength), (N, N); diagonal p_i."""
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    both = np.outer(p, p)
    r, q = cell_probabilities(p, groups)
    for g, s in enumerate(groups.starts(n)):
        e = min(n, s + groups.size)
        if groups.kind == "exclusive":
            both[s:e, s:e] = 0.0
        else:
            both[s:e, s:e] = q[0, g] + (1 - q[0, g]) * np.outer(r[0, s:e], r[0, s:e])
    both[np.diag_indices(n)] = p
    return both


def second_moment_correlated(p: np.ndarray, groups: Groups) -> np.ndarray:
    """Σ = E[x xᵀ] for one model: P(u_i u_j)/4 off the diagonal, p_i/3 on it, (N, N)."""
    sigma = pair_probabilities(p, groups) / 4.0
    sigma[np.diag_indices_from(sigma)] = np.asarray(p, dtype=np.float64) / 3.0
    return sigma
