"""Readings of the paper: the choices it leaves unstated, each set of choices a named :class:`Reading`.

The paper states neither its learning rate, batch size, initialization scale nor step count, and two
of its statements disagree on the feature frequencies: Sec. 2.1 normalizes Σ p_i = 1, while eq. 7
(L = (1/6) Σ i^-(a+2b) exp(-(2/3) t i^-a)) and Fig. 9's "~400 features learned at t = 1e3" match the
unnormalized p_i = i^-a (p_1 = 1, Σ p_i ≈ 5.6 active features per sample at a = 1.1, N = 1024; with
Σ p_i = 1 eq. 7's learning condition (2/3) t p_i ≳ 1 gives ~80 learned features at t = 1e3, not ~400).
:data:`READINGS` crosses every combination of

* ``normalize``: ``sum`` (Sec. 2.1, our default) or ``none`` (eq. 7 / Fig. 9);
* the learning rate: the mode's lr (×1) or half of it (×½). The largest stable SGD step scales like
  2/λ_max of the loss Hessian; for the superposition student that is ≈ λ_max(Σ)·λ_max(WWᵀ) with the
  input second moment Σ = diag(p/3 − p²/4) + μμᵀ (μ = p/2) and WWᵀ ≈ (N/K) I (:func:`lambda_max_sigma`,
  :func:`hessian_scale`). The unnormalized reading has λ_max(Σ) ≈ 0.45 against 0.06 (a = 1.1) for
  Σ p = 1, and at a = 2 even the normalized λ_max(Σ) = 0.21. Short runs (K = 256, t ≤ 200, see
  ``docs/readings.md``) found L(t) at lr = 1 and 0.5 equal within 0.5% for both normalizations and
  a ∈ {1.1, 2}, while lr = 2 (the quick mode's before these measurements) agrees only at a = 1.1 with
  Σp = 1 and is 1.6–9× too high at t = 200 otherwise (a = 2, or p_1 = 1). The quick mode now uses lr 1,
  so both ×1 (lr 1) and ×½ (lr 0.5) lie in the measured-stable range for every (a, normalization);
* ``init_scale`` of B: 1e-3 (the paper's "small initialization, B(0) ≈ 0", our default) or 3e-2
  (≈ PyTorch's default ``nn.Linear`` init, std 1/√(3K) = 0.036 to 0.018 for K = 256 to 1024, the scale
  a reader who did not set it would get; it adds ≈ N σ²/6 ≈ 0.15 of initial loss, as much as the
  teacher's 1/6 with Σp = 1);
* the fit's offset L0: fitted (``L0free``, eq. 9) or pinned to 0 (``L0pinned``, a pure power law;
  needs no new runs).

The stated reading (:data:`supdyn.experiments.base.STATED` itself, ``sum``, lr ×1, init 1e-3, L0 free)
comes first. Names are file-safe (they end up in result file names): ``<norm>_lr<factor>_init<scale>_<L0>``.
No reading is tuned to make a claim pass: every one is evaluated and shown.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from supdyn.config import DataConfig
from supdyn.data import frequencies
from supdyn.experiments.base import STATED, Reading

NORMALIZATIONS = {"sum": "Σp_i = 1 (Sec. 2.1)", "none": "p_i = i^-a unnormalized (eq. 7 / Fig. 9)"}
LR_FACTORS = {"1": 1.0, "0.5": 0.5}
INIT_SCALES = {"1e-3": 1e-3, "3e-2": 3e-2}
FIT_OFFSETS = {"L0free": True, "L0pinned": False}

_STATED_KEY = ("sum", "1", "1e-3", "L0free")


def lambda_max_sigma(p: np.ndarray) -> float:
    """Largest eigenvalue of the input second moment Σ = diag(d) + μμᵀ, d = p/3 − p²/4, μ = p/2.

    Σ is diagonal plus rank one, so λ_max is the largest root of the secular equation
    1 = Σ_i μ_i² / (λ − d_i) on (max d, max d + |μ|²], found by bisection (O(N) per iteration).
    """
    p = np.asarray(p, dtype=np.float64)
    d, mu2 = p / 3.0 - p * p / 4.0, (p / 2.0) ** 2
    lo, hi = float(d.max()), float(d.max() + mu2.sum())
    if mu2.sum() == 0.0:
        return lo
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if np.sum(mu2 / (mid - d)) > 1.0:
            lo = mid
        else:
            hi = mid
    return hi


def hessian_scale(a: float, normalize: str, n_features: int = 1024, d_hidden: int | None = None) -> float:
    """Linear-model estimate of the loss Hessian's λ_max: λ_max(Σ) without superposition (K = N), and
    λ_max(Σ)·(1 + √(K/N))²·N/K (the Marchenko–Pastur edge of WWᵀ, unit-norm columns) with it.

    A pessimistic guide (the ReLU student is stable somewhat beyond 2/λ): see the module docstring."""
    p = frequencies(DataConfig(n_features=n_features, a=a, normalize=normalize))
    lam = lambda_max_sigma(p)
    if d_hidden is None or d_hidden >= n_features:
        return lam
    r = d_hidden / n_features
    return lam * (1.0 + math.sqrt(r)) ** 2 / r


def _name(norm: str, lr: str, init: str, off: str) -> str:
    return f"{norm}_lr{lr}_init{init}_{off}"


def _description(norm: str, lr: str, init: str, off: str) -> str:
    lr_txt = "the mode's lr" if lr == "1" else f"{lr} × the mode's lr"
    fit_txt = "fit c·t^-α + L0 (L0 ≥ 0 free)" if FIT_OFFSETS[off] else "fit c·t^-α (L0 pinned to 0)"
    return f"{NORMALIZATIONS[norm]}; {lr_txt}; B(0) entries with std {init}; {fit_txt}"


def _build() -> list[Reading]:
    out = [STATED]
    for norm, lr, init, off in itertools.product(NORMALIZATIONS, LR_FACTORS, INIT_SCALES, FIT_OFFSETS):
        if (norm, lr, init, off) == _STATED_KEY:
            continue
        overrides = {}
        if norm != "sum":
            overrides["normalize"] = norm
        if INIT_SCALES[init] != 1e-3:
            overrides["init_scale"] = INIT_SCALES[init]
        out.append(Reading(_name(norm, lr, init, off), _description(norm, lr, init, off), overrides,
                           lr_factor=LR_FACTORS[lr], fit_offset=FIT_OFFSETS[off]))
    return out


#: every reading, STATED first (the same object); the others in a fixed order
READINGS: list[Reading] = _build()

#: the combination of choices that STATED stands for, under the naming scheme of the others
STATED_EQUIVALENT = _name(*_STATED_KEY)


def choices(reading: Reading) -> dict[str, str]:
    """The reading's choices as short labels: normalize, lr, init, L0 (for tables and legends)."""
    return {"normalize": str(reading.overrides.get("normalize", "sum")),
            "lr": f"×{reading.lr_factor:g}",
            "init": f"{float(reading.overrides.get('init_scale', 1e-3)):.0e}",
            "L0": "free" if reading.fit_offset else "pinned to 0"}


def needs_runs(reading: Reading) -> bool:
    """False when the reading differs from an earlier one only in the fit (it reuses those runs)."""
    idx = READINGS.index(reading)
    key = (tuple(sorted(reading.overrides.items())), reading.lr_factor)
    return all((tuple(sorted(r.overrides.items())), r.lr_factor) != key for r in READINGS[:idx])


__all__ = ["READINGS", "STATED_EQUIVALENT", "choices", "hessian_scale", "lambda_max_sigma", "needs_runs"]
