"""The rules that turn a measured statistic and its interval into a verdict.

A rule returns a :class:`Decision`: an outcome ("pass", "fail", "inconclusive", "untested") and the
reason, in words, with the numbers. :func:`word` names the outcome in the vocabulary of the row:
a claim of the paper is "reproduced" / "not reproduced" / "inconclusive" / "not tested", a check of
ours "passed" / "failed" / "inconclusive" / "not tested".

* :func:`equivalence` — "≈ value", "equal", "indistinguishable": two one-sided tests (TOST) at 5% and
  a margin m stated in the spec, i.e. pass iff the 90% interval lies inside [target − m, target + m]
  (:func:`supdyn.fit.intervals.tost`). The interval must include seed-to-seed variation (≥ 3 seeds, or
  a seed standard deviation pooled from replicated points) to pass; it fails when the interval lies
  entirely outside the band; otherwise (it crosses an edge of the band, is wider than it, or lacks
  degrees of freedom) it is inconclusive. A deterministic quantity (theory) has no interval: its value
  passes iff it lies in the band.
* :func:`threshold` — "larger than", "below": pass iff the whole interval clears the threshold, fail
  iff it lies entirely on the wrong side, else inconclusive. A stochastic value without an interval
  (one seed) decides only when it clears the threshold by the stated ``allowance`` (an allowance for
  the unmeasured seed-to-seed variation, in the spec), else inconclusive.
* :func:`all_members` — a claim about every member of a set: fails if one member fails, passes only if
  every member passes, not tested if no member could be tested, else inconclusive.
* :func:`must_fall` — the condition under which a rule on a fitted window (an exponent, a fit's
  residuals) can decide at all: the loss falls on the window, L(t_lo)/L(t_hi) − 1 ≥ ``min_drop`` (t_lo,
  t_hi: the first and last evaluated t of the window; ``min_drop`` in the spec). A curve that does not
  fall (a plateau) fits c t^−α + L0 with a free L0 for almost any α, so its member is inconclusive,
  whatever the member rule said; a member with no value stays not tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

OUTCOMES = ("pass", "fail", "inconclusive", "untested")
_WORDS = {"claim": {"pass": "reproduced", "fail": "not reproduced", "inconclusive": "inconclusive",
                    "untested": "not tested"},
          "check": {"pass": "passed", "fail": "failed", "inconclusive": "inconclusive", "untested": "not tested"}}

# what an interval column holds
CI_SEEDS = "CI 95% over seeds (Student t)"
POOLED = "CI 95%: fit SE ⊕ seed SD pooled from replicated points (Student t)"
FIT_SE = "CI 95% from the fit's SE (1 seed: no seed-to-seed variation)"
BOOTSTRAP = "CI 95%: percentile bootstrap over seeds"
ENVELOPE = "envelope of per-point 90% CIs (the TOST intervals)"
THEORY = "none: deterministic theory"
NO_INTERVAL = "none"


@dataclass(frozen=True)
class Decision:
    """A rule's outcome (one of :data:`OUTCOMES`) and why."""

    outcome: str
    reason: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome: got {self.outcome!r}; allowed: one of {', '.join(OUTCOMES)}")


def word(kind: str, outcome: str) -> str:
    """The verdict word of ``outcome`` for a row of ``kind`` ("claim" or "check")."""
    try:
        return _WORDS[kind][outcome]
    except KeyError:
        raise ValueError(f"kind/outcome: got {kind!r}/{outcome!r}; allowed: claim|check and "
                         f"{', '.join(OUTCOMES)}") from None


def _finite(*xs: float | None) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _g(x: float) -> str:
    return f"{x:.4g}"


def equivalence(estimate: float | None, lo90: float | None, hi90: float | None, target: float, margin: float, *,
                seed_variation: bool = True, deterministic: bool = False, label: str = "value",
                p_tost: float | None = None, allowance: float | None = None) -> Decision:
    """TOST at ``margin`` on the 90% interval [lo90, hi90] of ``estimate`` (see the module docstring).

    A single-seed value without an interval and with an ``allowance`` (for the unmeasured seed variation,
    stated in the spec) is read as [estimate ± allowance] without seed variation: it can fail (that
    interval entirely outside the band) but never pass."""
    if allowance is not None and _finite(estimate) and not _finite(lo90, hi90) and not deterministic:
        lo90, hi90, seed_variation = estimate - allowance, estimate + allowance, False
        label = f"{label} (1 seed, ± allowance {_g(allowance)})"
    if margin <= 0:
        raise ValueError(f"margin: got {margin!r}; allowed: > 0")
    low, high = target - margin, target + margin
    band = f"[{_g(low)}, {_g(high)}] ({_g(target)} ± {_g(margin)})"
    if not _finite(estimate):
        return Decision("untested", f"{label}: no value could be measured")
    if deterministic:
        ok = low <= estimate <= high
        return Decision("pass" if ok else "fail", f"{label} = {_g(estimate)} (deterministic) lies "
                        f"{'inside' if ok else 'outside'} the band {band}")
    if not _finite(lo90, hi90):
        return Decision("inconclusive", f"{label} = {_g(estimate)} has no interval (too few seeds or degrees of "
                        f"freedom): the equivalence test at {band} cannot be done")
    iv = f"{label} = {_g(estimate)}, 90% CI [{_g(lo90)}, {_g(hi90)}]"
    p = f" (TOST p = {p_tost:.3g})" if _finite(p_tost) else ""
    if hi90 < low or lo90 > high:
        return Decision("fail", f"{iv} lies entirely outside the band {band}{p}")
    if low <= lo90 and hi90 <= high:
        if seed_variation:
            return Decision("pass", f"{iv} lies inside the band {band}: equivalent at 5%{p}")
        return Decision("inconclusive", f"{iv} lies inside the band {band}, but the interval holds no seed-to-seed "
                        "variation (needs ≥ 3 seeds)")
    if hi90 - lo90 > high - low:
        return Decision("inconclusive", f"{iv} is wider than the band {band}{p}")
    return Decision("inconclusive", f"{iv} crosses an edge of the band {band}{p}")


def threshold(estimate: float | None, lo: float | None, hi: float | None, limit: float, *, above: bool,
              deterministic: bool = False, allowance: float | None = None, label: str = "value",
              level: str = "95%") -> Decision:
    """Is ``estimate`` above (``above``) or below ``limit``? Decided on the whole interval [lo, hi]."""
    side = ">" if above else "<"
    if not _finite(estimate):
        return Decision("untested", f"{label}: no value could be measured")

    def clears(x: float, by: float = 0.0) -> bool:
        return x > limit + by if above else x < limit - by

    def wrong(x: float, by: float = 0.0) -> bool:
        return x < limit - by if above else x > limit + by

    if deterministic:
        ok = clears(estimate)
        return Decision("pass" if ok else "fail", f"{label} = {_g(estimate)} (deterministic) "
                        f"{'is' if ok else 'is not'} {side} {_g(limit)}")
    if _finite(lo, hi):
        iv = f"{label} = {_g(estimate)}, {level} CI [{_g(lo)}, {_g(hi)}]"
        if clears(lo) and clears(hi):
            return Decision("pass", f"{iv}: the whole interval is {side} {_g(limit)}")
        if wrong(lo) and wrong(hi):
            return Decision("fail", f"{iv}: the whole interval is on the wrong side of {_g(limit)}")
        return Decision("inconclusive", f"{iv} contains {_g(limit)}")
    if allowance is None:
        return Decision("inconclusive", f"{label} = {_g(estimate)} has no interval (1 seed): cannot decide {side} "
                        f"{_g(limit)}")
    pt = f"{label} = {_g(estimate)} (1 seed, no interval; allowance ± {_g(allowance)} for seed variation)"
    if clears(estimate, allowance):
        return Decision("pass", f"{pt} is {side} {_g(limit)} by more than the allowance")
    if wrong(estimate, allowance):
        return Decision("fail", f"{pt} is on the wrong side of {_g(limit)} by more than the allowance")
    return Decision("inconclusive", f"{pt} is within the allowance of {_g(limit)}")


def all_members(decisions: Sequence[Decision], names: Sequence[str], what: str = "member") -> Decision:
    """The set rule: every member must pass (see the module docstring)."""
    if len(decisions) != len(names):
        raise ValueError(f"names: got {len(names)} for {len(decisions)} decisions; allowed: one per decision")
    if not decisions:
        return Decision("untested", f"no {what} to test")
    by = {o: [n for n, d in zip(names, decisions) if d.outcome == o] for o in OUTCOMES}
    n = len(decisions)
    if by["fail"]:
        return Decision("fail", f"{len(by['fail'])} of {n} {what}s fail ({', '.join(by['fail'])}); the claim "
                        f"needs every {what}")
    if len(by["pass"]) == n:
        return Decision("pass", f"all {n} {what}s pass")
    if len(by["untested"]) == n:
        return Decision("untested", f"none of the {n} {what}s could be tested")
    open_ = by["inconclusive"] + by["untested"]
    return Decision("inconclusive", f"{len(by['pass'])} of {n} {what}s pass, none fails, {len(open_)} undecided "
                    f"({', '.join(open_)})")


def must_fall(decision: Decision, drop: float | None, min_drop: float, label: str = "loss") -> Decision:
    """``decision`` if the loss falls on the window (``drop`` = L(t_lo)/L(t_hi) − 1 ≥ ``min_drop``), else
    inconclusive with the reason (see the module docstring); an untested ``decision`` is returned as is."""
    if min_drop < 0:
        raise ValueError(f"min_drop: got {min_drop!r}; allowed: >= 0")
    if decision.outcome == "untested" or (_finite(drop) and drop >= min_drop):
        return decision
    how = f"falls by only L(t_lo)/L(t_hi) − 1 = {_g(drop)} < {_g(min_drop)}" if _finite(drop) else \
        "has no measurable fall"
    return Decision("inconclusive", f"{decision.reason}; the {label} {how} on the window, too little for a fit "
                    "to decide: this member is inconclusive")


def rule_must_fall(min_drop: float) -> str:
    """The text of :func:`must_fall` as the claims table states it."""
    return (f"; a member counts only if its loss falls on the window, L(t_lo)/L(t_hi) − 1 ≥ {min_drop:g} (t_lo, "
            "t_hi: the window's first and last evaluated t), else it is inconclusive")


def rule_equivalence(label: str, target: float, margin: float, what: str = "") -> str:
    """The text of :func:`equivalence` as the claims table states it."""
    return (f"{label}{' ' + what if what else ''}: TOST at 5% with margin {margin:g}: reproduced if the 90% CI "
            f"(with seed-to-seed variation) lies inside [{target - margin:g}, {target + margin:g}]; not "
            "reproduced if it lies entirely outside; inconclusive otherwise (crosses an edge, wider than the "
            "band, fewer than 3 seeds or no degrees of freedom)")


def rule_threshold(label: str, limit: float, above: bool, allowance: float | None = None) -> str:
    """The text of :func:`threshold` as the claims table states it."""
    side = ">" if above else "<"
    one = (f"; with 1 seed (no interval) the value must clear {limit:g} by the allowance {allowance:g} "
           "(for the unmeasured seed variation), else inconclusive" if allowance is not None else
           "; without an interval: inconclusive")
    return (f"{label} {side} {limit:g}: passes if the whole interval is {side} {limit:g}, fails if it lies "
            f"entirely on the other side, else inconclusive{one}")


__all__ = ["BOOTSTRAP", "CI_SEEDS", "ENVELOPE", "FIT_SE", "NO_INTERVAL", "OUTCOMES", "POOLED", "THEORY",
           "Decision", "all_members", "equivalence", "must_fall", "rule_equivalence", "rule_must_fall",
           "rule_threshold", "threshold", "word"]
