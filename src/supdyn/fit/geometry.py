"""Feature geometry of an embedding: which features get their own direction, which share, which are dropped.

For an embedding E ∈ R^{K×N} (column E_i is feature i's direction in the K-dimensional hidden space):
    Gram matrix          G = Eᵀ E  (N × N)
    feature norm         ‖E_i‖
    dimensionality       D_i = ‖E_i‖² / Σ_j (Ê_i · E_j)²,  Ê_i = E_i / ‖E_i‖   (D_i = 1: a direction of
                         its own; 1/2: shared with one other feature at the same norm; → 0: crowded out)
    represented          ‖E_i‖ ≥ ``threshold`` (default 0.5): the feature still has a direction
(the measures of Elhage et al.'s toy models of superposition). Σ_i D_i ≤ K for any E.

For a run: a learned embedding (``learnable``) has snapshots of the encoder E and decoder D; a fixed one
(``fixed``, ``linear``) is W at every time; without superposition (``none``) there is no embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supdyn.config import RunConfig

REPRESENTED_NORM = 0.5


def dimensionality(e: np.ndarray) -> np.ndarray:
    """D_i of every column of e (K, N): ‖E_i‖² / Σ_j (Ê_i · E_j)², 0 for a zero column."""
    e = np.asarray(e, dtype=np.float64)
    norms2 = np.sum(e * e, axis=0)  # (N,)
    gram = e.T @ e  # (N, N)
    safe = np.where(norms2 > 0, norms2, 1.0)
    overlap = np.sum(gram ** 2, axis=1) / safe  # Σ_j (Ê_i · E_j)² = Σ_j G_ij² / ‖E_i‖²
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms2 > 0, norms2 / np.where(overlap > 0, overlap, 1.0), 0.0)


@dataclass
class Geometry:
    """The geometry of one embedding at each snapshot time. ``gram`` only at the last time (N × N)."""

    t: np.ndarray  # (n_snap,)
    norms: np.ndarray  # (n_snap, N)
    dims: np.ndarray  # (n_snap, N)
    n_represented: np.ndarray  # (n_snap,)
    gram: np.ndarray  # (N, N) at t[-1]
    which: str  # "W" (fixed), "E" (encoder), "D" (decoder)

    def to_dict(self) -> dict:
        return {"which": self.which, "t": self.t.tolist(), "n_represented": self.n_represented.tolist(),
                "sum_dims": self.dims.sum(axis=1).tolist(), "mean_norm": self.norms.mean(axis=1).tolist()}


def geometry(t: np.ndarray, embeddings: np.ndarray, which: str, threshold: float = REPRESENTED_NORM) -> Geometry:
    """Geometry of embeddings (n_snap, K, N) at times t (n_snap,)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(embeddings, axis=1)  # (n_snap, N)
    dims = np.stack([dimensionality(e) for e in embeddings])
    last = embeddings[-1]
    return Geometry(np.asarray(t, dtype=float), norms, dims, (norms >= threshold).sum(axis=1), last.T @ last, which)


def run_geometries(cfg: RunConfig, snapshot_t: np.ndarray, snapshots: dict[str, np.ndarray]) -> list[Geometry]:
    """The geometries of a stored run: E and D of a learned embedding (from its snapshots), or the fixed W
    at the snapshot times (or t = 0 without snapshots). A run without superposition has none."""
    if not cfg.spec.superposition:
        raise ValueError(f"variant: {cfg.variant!r} has no embedding; allowed: a variant with superposition "
                         "(linear, fixed, learnable)")
    if cfg.spec.learned_embedding:
        if "enc" not in snapshots or len(snapshot_t) == 0:
            raise ValueError("snapshots: the run has no snapshots of its learned embedding; allowed: a run "
                             "trained with snapshots (e.g. `supdyn train --snapshots 10 100 1000`)")
        return [geometry(snapshot_t, snapshots["enc"], "E"), geometry(snapshot_t, snapshots["dec"], "D")]
    from supdyn.model import run_embedding

    t = np.asarray(snapshot_t, dtype=float) if len(snapshot_t) else np.zeros(1)
    w = run_embedding(cfg).numpy()
    return [geometry(t, np.broadcast_to(w, (t.size, *w.shape)), "W")]
