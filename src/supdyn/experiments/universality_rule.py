"""The pre-registered decision rule of the ``universality`` experiment (``specs/universality.toml``).

Input: one *point* per (a, b, normalization, N) of the ReLU student with fixed random W at K = N/4, each
a dict with ``a``, ``b``, ``normalize``, ``N``, ``value`` (the mean local exponent over its longest range
of constant exponent, NaN if it has no range of ``min_decades``), ``lo``/``hi`` (its 95 % interval over
seeds, NaN with one seed) and ``bound`` (True when the plateau was not reached: the value is a lower
bound). The rule, as the spec states it:

* ``universal``: the points cover the pre-registered grid (every required (a, b, normalization) at both
  required N), every one has a range whose value lies in the band with its plateau reached, and the
  value drifts by less than ``drift_tol`` from the smaller to the larger N;
* ``refuted``: both required N are present and some (a, b) has, at both N and under both normalizations,
  a range whose seed interval lies entirely outside the band (a lower bound counts only if its interval
  lies above the band);
* ``inconclusive`` otherwise, with the reasons and what would decide it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

DECISIONS = ("universal", "refuted", "inconclusive")


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def point_status(p: dict[str, Any], band: Sequence[float]) -> str:
    """One of ``no range``, ``in band`` (value in the band, plateau reached), ``in band (bound)``
    (value in the band but a lower bound), ``above``/``below`` (seed interval entirely outside the band),
    ``above (bound)`` (a lower bound whose interval is above the band: clearly outside too), ``below
    (bound)`` (a lower bound below the band: undecided), ``outside (straddles)`` (value outside, interval
    reaching the band or no interval)."""
    v, lo, hi = _f(p.get("value")), _f(p.get("lo")), _f(p.get("hi"))
    bound = bool(p.get("bound"))
    if not math.isfinite(v):
        return "no range"
    inside = band[0] <= v <= band[1]
    has_iv = math.isfinite(lo) and math.isfinite(hi)
    if has_iv and lo > band[1]:
        return "above (bound)" if bound else "above"
    if inside:
        return "in band (bound)" if bound else "in band"
    if v < band[0] and bound:
        return "below (bound)"  # a lower bound below the band says nothing about the exponent
    if has_iv and hi < band[0]:
        return "below"
    return "outside (straddles)"


def _clearly_outside(status: str) -> bool:
    return status in ("above", "below", "above (bound)")


def decide(points: Iterable[dict[str, Any]], *, band: Sequence[float], drift_tol: float,
           required_keys: Iterable[tuple[float, float, str]], required_ns: Sequence[int]) -> dict[str, Any]:
    """The decision (see the module docstring): ``{"decision", "reasons", "to_decide", "rows"}``;
    ``rows`` one per (a, b, normalization) with the status and value at each N and the drift."""
    pts = list(points)
    band = (float(band[0]), float(band[1]))
    n_lo, n_hi = (int(min(required_ns)), int(max(required_ns))) if required_ns else (0, 0)
    by: dict[tuple[float, float, str], dict[int, dict[str, Any]]] = {}
    for p in pts:
        by.setdefault((float(p["a"]), float(p["b"]), str(p["normalize"])), {})[int(p["N"])] = p
    required = sorted({(float(a), float(b), str(n)) for a, b, n in required_keys})
    keys = sorted(set(by) | set(required))
    rows = []
    for key in keys:
        at = by.get(key, {})
        row: dict[str, Any] = {"a": key[0], "b": key[1], "normalize": key[2], "required": key in required}
        for n in sorted(set(at) | {n_lo, n_hi} - {0}):
            p = at.get(n)
            row[f"N{n}"] = None if p is None else {"value": _f(p.get("value")), "lo": _f(p.get("lo")),
                                                   "hi": _f(p.get("hi")), "bound": bool(p.get("bound")),
                                                   "status": point_status(p, band)}
        lo_p, hi_p = at.get(n_lo), at.get(n_hi)
        row["drift"] = (_f(hi_p.get("value")) - _f(lo_p.get("value"))) if lo_p and hi_p else float("nan")
        rows.append(row)

    reasons: list[str] = []
    to_decide: list[str] = []
    have_ns = sorted({int(p["N"]) for p in pts})
    missing_ns = [n for n in (n_lo, n_hi) if n and n not in have_ns]
    missing_keys = [k for k in required if not all(n in by.get(k, {}) for n in (n_lo, n_hi))]
    complete = not missing_ns and not missing_keys and n_lo != n_hi
    if missing_ns:
        reasons.append(f"N = {', '.join(map(str, missing_ns))} not in the data (the rule compares N = {n_lo} "
                       f"and {n_hi})")
    if missing_keys:
        reasons.append(f"{len(missing_keys)} of {len(required)} pre-registered (a, b, normalization) points lack "
                       "one or both N")
    if missing_ns or missing_keys:
        to_decide.append("run the pre-registered grid: `supdyn reproduce --full --only universality` (halves: "
                         "examples/universality_n1024.toml, examples/universality_n4096.toml)")

    def status(key: tuple[float, float, str], n: int) -> str:
        p = by.get(key, {}).get(n)
        return "missing" if p is None else point_status(p, band)

    # universal
    universal = complete
    drifts = []
    for key in required:
        sts = [status(key, n) for n in (n_lo, n_hi)]
        if any(s != "in band" for s in sts):
            universal = False
        if all(s != "missing" for s in sts):
            d = _f(by[key][n_hi].get("value")) - _f(by[key][n_lo].get("value"))
            if not (math.isfinite(d) and abs(d) < drift_tol):
                universal = False
                if math.isfinite(d):
                    drifts.append(f"(a={key[0]:g}, b={key[1]:g}, {key[2]}): {d:+.3f}")
    # refuted: some (a, b) clearly outside at both N under both normalizations
    refuting = []
    if n_lo and n_hi and n_lo != n_hi and not missing_ns:
        for a, b in sorted({(k[0], k[1]) for k in keys}):
            norms = ("sum", "none")
            if all(_clearly_outside(status((a, b, nm), n)) for nm in norms for n in (n_lo, n_hi)):
                refuting.append(f"(a={a:g}, b={b:g})")
    if universal:
        decision = "universal"
    elif refuting:
        decision = "refuted"
        reasons.append("clearly outside the band at both N under both normalizations: " + ", ".join(refuting))
    else:
        decision = "inconclusive"
        counts: dict[str, list[str]] = {}
        for key in keys:
            for n in (n_lo, n_hi):
                s = status(key, n)
                if s not in ("in band", "missing"):
                    counts.setdefault(s, []).append(f"(a={key[0]:g}, b={key[1]:g}, {key[2]}, N={n})")
        for s, where in counts.items():
            reasons.append(f"{s}: {', '.join(where)}")
        if drifts:
            reasons.append(f"drift from N = {n_lo} to {n_hi} ≥ {drift_tol:g}: " + ", ".join(drifts))
        if any("bound" in s for s in counts):
            to_decide.append("longer runs, past the width plateau (it was not reached: those exponents are "
                             "lower bounds)")
        if "no range" in counts:
            to_decide.append("longer runs or a less noisy curve (more seeds, a larger evaluation set) where "
                             "no range of constant exponent spans the minimum")
        if "outside (straddles)" in counts:
            to_decide.append("more seeds where the interval reaches the band's edge")
        if counts.get("above") or counts.get("below"):
            to_decide.append("the same points under the other normalization and at the other N (a refutation "
                             "needs both)")
    return {"decision": decision, "reasons": reasons, "to_decide": to_decide, "rows": rows,
            "band": list(band), "drift_tol": float(drift_tol), "N_pair": [n_lo, n_hi], "complete": complete}


def rule_text(band: Sequence[float], drift_tol: float, ns: Sequence[int], min_decades: float, tol: float) -> str:
    """The rule in one paragraph, with its numbers (for the report and the page)."""
    lo, hi = band
    n1, n2 = min(ns), max(ns)
    return (f"On the ReLU student with fixed random W at K = N/4, per (a, b, normalization, N): the longest "
            f"range of at least {min_decades:g} decade(s) on which the local exponent −d log(L − L∞)/d log t "
            f"stays within ±{tol:g} of one value, and that value. \"universal\" if every (a, b, normalization) "
            f"of the pre-registered grid has such a range with value in [{lo:g}, {hi:g}] (plateau reached, not "
            f"a bound) at N = {n1} and at N = {n2}, and the value drifts by less than {drift_tol:g} from "
            f"N = {n1} to {n2}; \"refuted\" if some (a, b) has such a range whose 95 % interval over seeds lies "
            f"entirely outside [{lo:g}, {hi:g}] at both N under both normalizations (a lower bound counts only "
            "above the band); \"inconclusive\" otherwise, saying what would decide it.")


__all__ = ["DECISIONS", "decide", "point_status", "rule_text"]
