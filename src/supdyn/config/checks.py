"""Checks of configuration values: the allowed choices, and one-line errors naming the field and the
allowed range (:class:`ConfigError`)."""

from __future__ import annotations

import difflib
import functools
import math
import numbers
from typing import Any

from supdyn.config.variants import VARIANT_TABLE

LAWS = ("power", "exponential", "algebraic", "user")
NORMALIZATIONS = ("sum", "none")
TEACHERS = ("power", "user")
IMPORTANCE = ("uniform", "power", "user")
CORRELATIONS = ("none", "cooccur", "exclusive")
VARIANTS = ("auto", *VARIANT_TABLE)
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "warmup", "cosine", "step")
EVAL_MODES = ("auto", "sample", "exact")
DTYPES = ("float32", "float64", "tf32")
EMBEDDING_INITS = ("unit", "gaussian")
LOSS_REDUCTIONS = ("half_sum", "mean")

ADDED = {"added": True}
"""``dataclasses.field`` metadata of a field added after schema 2: left out of a run's identity while it has
its default (see ``RunConfig.canonical_json``)."""


class ConfigError(ValueError):
    """A bad configuration value. The message is one line naming the field and the allowed range."""


def _fail(field_name: str, value: Any, allowed: str) -> None:
    got = repr(value)
    if len(got) > 80:  # a 400-digit integer, a list of 1024 values: its ends and its length
        got = f"{got[:40]}…{got[-12:]} ({len(got)} characters)"
    raise ConfigError(f"{field_name}: got {got}; allowed: {allowed}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # (numpy's bool is no bool subclass)


def _finite(name: str, value: Any) -> float:
    """``value`` as a float: any real number (numpy scalars too) but a boolean, finite; an integer too
    large for a float (TOML integers have no size limit) is not finite."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        _fail(name, value, "a finite number")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        _fail(name, value, "a finite number")
    return out


def _is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (numpy's too), not a boolean."""
    return not _is_bool(value) and isinstance(value, numbers.Integral)


def _integer(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an int: any integer (numpy's too) but a boolean, in [lo, hi]."""
    if not _is_int(value):
        _fail(name, value, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
    if value < lo or (hi is not None and value > hi):
        _fail(name, value, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
    return int(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        _fail(name, value, "one of " + ", ".join(choices) + extra)


def _float_tuple(name: str, value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):  # (a string is iterable: "12" was the list 1, 2)
        _fail(name, value, "a list of numbers")
    try:
        values = list(value)
        out = tuple(float(v) for v in values)
    except OverflowError:  # an integer too large for a float: named below
        out = ()
    except (TypeError, ValueError):
        _fail(name, value, "a list of numbers")
    for i, v in enumerate(values):  # numbers only (as for one value): no boolean, string, integer beyond a float
        _finite(f"{name}[{i}]", v)
    return out


def _law_values(law: str, n: int, a: float, kappa: float, density: float, normalize: str,
                p: tuple[float, ...] | None):
    """(q, scaled, total): the law's p_i as ``supdyn.data.frequencies`` computes them (q may hold values
    outside [0, 1], reported by :func:`_law_problem`), whether it was normalized, and its raw sum."""
    import numpy as np  # lazy: config stays cheap to import

    i, scaled = np.arange(1, n + 1, dtype=np.float64), law != "user" and normalize == "sum"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if law == "exponential":
            q = -kappa * i**a
            q = np.exp(q - q.max()) if scaled else np.exp(q)
        else:
            q = {"user": lambda: np.asarray(p, dtype=np.float64), "power": lambda: i ** (-a),
                 "algebraic": lambda: (n + 1.0 - i) ** a}[law]()
        total = q.sum()
        if scaled and np.isfinite(total) and total > 0:
            q = q * (density / total)
    return q, scaled, total


def _law_problem(law: str, n: int, a: float, kappa: float, density: float, normalize: str,
                 p: tuple[float, ...] | None, group_size: int = 0) -> str | None:
    """The one-line error of a law whose p_i leave [0, 1], else None: the check (and message) of
    ``supdyn.data.frequencies``, run when a RunConfig is built, before any training. With
    ``group_size`` > 0 (exclusive groups) also a group whose frequencies sum above 1."""
    import numpy as np  # lazy: config stays cheap to import

    q, scaled, total = _law_values(law, n, a, kappa, density, normalize, p)
    if scaled and (not np.isfinite(total) or total <= 0):
        return (f"a: the {law} law with a={a:g} cannot be normalized (sum of p_i = {total:g}); "
                "allowed: a law with a finite positive sum")
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(q) | (q < 0) | (q > 1))
    name = "p" if law == "user" else ("density" if scaled else "a")
    if bad.size:
        j = int(bad[0])
        if np.isfinite(q[j]) and q[j] > 1:
            return (f"{name}: {'normalized ' if scaled else ''}p_{j + 1} = {q[j]:.6g} exceeds 1 by {q[j] - 1:.3g} "
                    f"({bad.size} of {n} features outside [0, 1]); allowed: every p_i in [0, 1]")
        return f"{name}: p_{j + 1} = {float(q[j])!r}; allowed: every p_i finite and in [0, 1]"
    if not np.any(q > 0):
        return zero_law(name)
    if group_size > 0:
        sums = np.add.reduceat(q, np.arange(0, n, group_size))
        k = int(np.argmax(sums))
        if sums[k] > 1 + 1e-12:
            return (f"correlation: exclusive group {k + 1} (features {k * group_size + 1}..{min(n, (k + 1) * group_size)}) "
                    f"has sum p = {sums[k]:.6g}; allowed: every group's sum of p_i <= 1 (smaller group_size or density)")
    return None


_cached_law_problem = functools.lru_cache(maxsize=512)(_law_problem)


def zero_law(name: str) -> str:
    """The error of a law whose p_i are all 0 (no feature is ever active: nothing to learn)."""
    return f"{name}: every p_i is 0, so no feature is ever active; allowed: at least one p_i > 0"


def teacher_problem(teacher: tuple[float, ...] | None, n: int, batch: int, dtype: str) -> str | None:
    """The error of a user teacher too large for the run's dtype: a batch's summed squared error,
    up to n · batch · max A_ii², must stay finite (else the loss is inf before the first step)."""
    if not teacher:
        return None
    import numpy as np  # lazy: config stays cheap to import

    big = math.sqrt(float(np.finfo(np.float64 if dtype == "float64" else np.float32).max) / (n * batch))
    j = max(range(len(teacher)), key=lambda i: abs(teacher[i]))
    if abs(teacher[j]) <= big:
        return None
    return (f"teacher_diag[{j}]: got {teacher[j]:g}; allowed: abs(A_ii) <= {big:.3g} for dtype {dtype} at N = {n}, "
            f"batch = {batch} (N · batch · A_ii² must stay finite; scale the teacher down or use float64)")


