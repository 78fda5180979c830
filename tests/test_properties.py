"""Property-based tests (hypothesis): frequency laws, the config's law check, the stability
estimate, the no-superposition theory and the invariances of the power-law fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from supdyn.config import ConfigError, DataConfig, ModelConfig, RunConfig
from supdyn.data import frequencies, max_eigenvalue, second_moment
from supdyn.fit import fit_power_law
from supdyn.theory import theory_from_config

SETTINGS = settings(max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

n_features = st.integers(min_value=1, max_value=300)
laws = st.sampled_from(["power", "exponential", "algebraic"])
exponents = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


def _data(law: str, n: int, a: float, density: float = 1.0, kappa: float = 1.0,
          normalize: str = "sum") -> DataConfig:
    if law == "exponential":
        a = abs(a) + 0.05  # the exponential law needs a > 0
    return DataConfig(n_features=n, law=law, a=a, density=density, kappa=kappa, normalize=normalize)


# -- frequency laws --------------------------------------------------------------------------------
@SETTINGS
@given(law=laws, n=n_features, a=exponents, density=st.floats(min_value=1e-3, max_value=1.0),
       kappa=st.floats(min_value=0.05, max_value=5.0))
def test_normalized_laws_sum_to_the_density(law, n, a, density, kappa):
    """With E <= 1 every normalized law is valid (its largest p_i is at most E) and Σp = E."""
    p = frequencies(_data(law, n, a, density, kappa))
    assert p.shape == (n,) and np.all((p >= 0) & (p <= 1))
    assert p.sum() == pytest.approx(density, rel=1e-12)


@SETTINGS
@given(law=laws, n=n_features, a=exponents, density=st.floats(min_value=1e-3, max_value=1.0),
       kappa=st.floats(min_value=0.05, max_value=5.0), normalize=st.sampled_from(["sum", "none"]))
def test_laws_are_monotone_in_the_stated_direction(law, n, a, density, kappa, normalize):
    """power i^-a and exponential exp(-κ i^a) (a > 0) fall with i for a > 0; algebraic (N+1-i)^a too
    (its largest p is p_1); a < 0 reverses power and algebraic; a = 0 is flat."""
    d = _data(law, n, a, density, kappa, normalize)
    try:
        p = frequencies(d)
    except ConfigError:
        assume(False)  # unnormalized laws with p_i > 1 (checked elsewhere)
    diff = np.diff(p)
    tol = 1e-15 * max(p.max(), 1e-300)
    if law == "exponential" or d.a > 0:
        assert np.all(diff <= tol)
    elif d.a < 0:
        assert np.all(diff >= -tol)
    else:
        assert np.allclose(p, p[0], rtol=1e-15)


@SETTINGS
@given(law=laws, n=n_features, a=st.floats(min_value=-3.0, max_value=6.0),
       density=st.floats(min_value=1e-3, max_value=50.0), normalize=st.sampled_from(["sum", "none"]))
def test_config_rejects_exactly_the_laws_frequencies_rejects(law, n, a, density, normalize):
    """RunConfig's early law check and data.frequencies agree, message for message."""
    d = _data(law, n, a, density, normalize=normalize)
    try:
        frequencies(d)
        expected = None
    except ConfigError as exc:
        expected = str(exc)
    try:
        RunConfig(data=d, model=ModelConfig(d_hidden=1))
        got = None
    except ConfigError as exc:
        got = str(exc)
    assert got == expected
    if got is not None:
        assert "\n" not in got and "allowed" in got


@SETTINGS
@given(p=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40))
def test_max_eigenvalue_matches_dense_eigvalsh(p):
    p = np.asarray(p)
    dense = np.linalg.eigvalsh(second_moment(p))[-1]
    assert max_eigenvalue(p) == pytest.approx(dense, rel=1e-10, abs=1e-15)


# -- theory ------------------------------------------------------------------------------------------
T = np.concatenate([[0.0], np.logspace(-2, 7, 60)])


@SETTINGS
@given(law=laws, n=st.integers(min_value=1, max_value=60), a=st.floats(min_value=0.0, max_value=3.0),
       b=st.floats(min_value=0.0, max_value=2.0), mode=st.sampled_from(["exact", "diagonal"]))
def test_theory_loss_is_non_negative_and_non_increasing(law, n, a, b, mode):
    d = _data(law, n, a)
    d = DataConfig(**{**{f: getattr(d, f) for f in ("n_features", "law", "a", "density", "kappa")}, "b": b})
    loss = theory_from_config(d, mode=mode).loss(T)
    scale = loss[0]
    assert np.all(np.isfinite(loss)) and scale > 0
    assert np.all(loss >= -1e-12 * scale)
    assert np.all(np.diff(loss) <= 1e-9 * scale), np.max(np.diff(loss)) / scale


# -- fits --------------------------------------------------------------------------------------------
TF = np.logspace(1, 4, 31)
WINDOW = (1e1, 1e4)


@SETTINGS
@given(alpha=st.floats(min_value=0.1, max_value=2.0), c=st.floats(min_value=1e-2, max_value=1e2),
       k=st.floats(min_value=1e-3, max_value=1e3), s=st.floats(min_value=1e-2, max_value=1e2),
       seed=st.integers(0, 2**32 - 1))
def test_pure_power_fit_scalings_change_only_c(alpha, c, k, s, seed):
    """offset=False (log-log least squares): L → kL gives c → kc; t → st gives c → c s^α; α fixed.
    On noisy curves, exactly (up to rounding)."""
    noise = np.exp(0.05 * np.random.default_rng(seed).standard_normal(TF.size))
    loss = c * TF**-alpha * noise
    f = fit_power_law(TF, loss, WINDOW, offset=False)
    fk = fit_power_law(TF, k * loss, WINDOW, offset=False)
    fs = fit_power_law(s * TF, loss, (s * WINDOW[0], s * WINDOW[1]), offset=False)
    assert fk.alpha == pytest.approx(f.alpha, abs=1e-9) and fk.c == pytest.approx(k * f.c, rel=1e-9)
    assert fs.alpha == pytest.approx(f.alpha, abs=1e-9) and fs.c == pytest.approx(f.c * s**f.alpha, rel=1e-8)
    assert fk.alpha_se == pytest.approx(f.alpha_se, rel=1e-6, abs=1e-12)


@SETTINGS
@given(alpha=st.floats(min_value=0.2, max_value=2.0), c=st.floats(min_value=1e-1, max_value=1e2),
       plateau=st.floats(min_value=0.0, max_value=0.5), k=st.floats(min_value=1e-3, max_value=1e3),
       s=st.floats(min_value=1e-2, max_value=1e2))
def test_offset_fit_scalings_change_only_c(alpha, c, plateau, k, s):
    """c t^-α + L0 exactly: L → kL scales c and L0 (α and L0/c fixed); t → st scales only c."""
    L0 = plateau * c * WINDOW[1] ** -alpha  # the plateau at most half the power-law part at the window's end
    loss = c * TF**-alpha + L0
    f = fit_power_law(TF, loss, WINDOW)
    fk = fit_power_law(TF, k * loss, WINDOW)
    fs = fit_power_law(s * TF, loss, (s * WINDOW[0], s * WINDOW[1]))
    for g in (f, fk, fs):
        assert g.alpha == pytest.approx(alpha, abs=1e-4)
    assert fk.c == pytest.approx(k * f.c, rel=1e-3)
    assert fk.L0 / fk.c == pytest.approx(f.L0 / f.c, rel=1e-3, abs=1e-6 * WINDOW[1] ** -alpha)
    assert fs.c == pytest.approx(f.c * s**alpha, rel=1e-3)
    assert fs.L0 == pytest.approx(f.L0, rel=1e-3, abs=1e-6 * c * WINDOW[1] ** -alpha)
    assert math.isfinite(fs.alpha_se)
