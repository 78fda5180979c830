"""The report section and the page (``docs/universality.md``) of the ``universality`` experiment, and the
compact form of its result that the page is built from.

Both are written from the result dict alone (:meth:`supdyn.experiments.universality.Universality.analyze`):
the question, the pre-registered rule, the decision with its reasons and what would decide it, the table
of exponents and ranges per (student, N, K, a, b, normalization) beside the paper's window fit, the
decision table per (a, b, normalization), and the mechanism (half-time spreads and their correlation with
the exponent). Every number comes from the result; nothing is typed in.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

QUESTION = ("The paper's headline: with superposition the mid-training exponent is α ≈ 1 \"for any a, b and K\" "
            "(fit c·t^−α + L0 on t ∈ [1e3, 1e4] at N = 1024), because random embeddings equalize the features' "
            "effective learning rates. Is it? Here the exponent is the local exponent −d log(L − L∞)/d log t "
            "above a plateau L∞ estimated from the late curve (not a free parameter of a fit), over the longest "
            "range of t on which it is constant to ±0.1, at two N, for both readings of the frequencies, with "
            "the linear student (no ReLU, no bias) and the exact sequential theory (no superposition) as controls.")

_DROP = ("loss_min", "loss_max")


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _g(x: Any, fmt: str = ".3f") -> str:
    v = _f(x)
    return "—" if not math.isfinite(v) else format(v, fmt)


def _round(o: Any, digits: int = 6) -> Any:
    if isinstance(o, float):
        return float(f"{o:.{digits}g}") if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _round(v, digits) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_round(v, digits) for v in o]
    return o


def compact(result: dict[str, Any]) -> dict[str, Any]:
    """The result without what the page and the report do not show (seed envelopes of the curves, fit
    residuals), floats to 6 significant digits: the curves, exponents, ranges, fits and half-time
    histograms, small enough to commit."""
    out = dict(result)
    out["groups"] = [{k: v for k, v in g.items() if k not in _DROP} for g in result.get("groups", [])]
    for g in out["groups"]:
        if isinstance(g.get("window_fit"), dict):
            g["window_fit"] = {k: v for k, v in g["window_fit"].items() if k != "residuals"}
    return _round(out)


def _student(g: dict[str, Any]) -> str:
    if g.get("variant") == "linear":
        return "linear WᵀBW"
    return f"ReLU, fixed W, K = N/{g['N'] // g['K']}" if g.get("K") else "ReLU, fixed W"


def _spread(h: dict[str, Any]) -> str:
    sp = _f(h.get("spread"))
    if not math.isfinite(sp):
        return "most never half-learned" if h.get("censored") else "—"
    return f"{sp:.2f}" + (" (≥, censored)" if h.get("censored") else "")


def _norm(n: str) -> str:
    return "Σp = 1" if n == "sum" else "p_i = i^−a"


def exponent_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the table of every group and theory curve."""
    head = ["student", "N", "K", "a", "b", "frequencies", "seeds", "L∞ (late curve)", "longest range (t)",
            "decades", "exponent", "95 % interval (seeds)", "window fit α on [{:g}, {:g}] (L0 free)", "L0",
            "half-time spread (dec.)"]
    fw = result.get("params", {}).get("fit_window", [1e3, 1e4])
    head[12] = head[12].format(*fw)
    rows = []
    groups = sorted(result.get("groups", []), key=lambda g: (g["a"], g["b"], g["normalize"], g["N"], g["variant"],
                                                                 -g["K"]))
    for g in groups:
        pl = g.get("plateau") or {}
        plat = (f"{_g(pl.get('value'), '.4g')}" if not g.get("bound") else
                f"not reached (slope {_g(pl.get('late_slope'), '.2f')}): L∞ = 0, exponent a lower bound")
        r = g.get("range")
        wf = g.get("window_fit") or {}
        ht = g.get("halftimes") or {}
        rows.append([_student(g), str(g["N"]), str(g["K"]), f"{g['a']:g}", f"{g['b']:g}", _norm(g["normalize"]),
                     str(len(g.get("seeds", []))), plat,
                     f"[{_g(r['t_lo'], '.3g')}, {_g(r['t_hi'], '.3g')}]" if r else "none ≥ min",
                     _g(r["decades"], ".2f") if r else "—",
                     _g(g.get("value")) + (" (≥)" if g.get("bound") and r else ""),
                     f"[{_g(g.get('lo'))}, {_g(g.get('hi'))}]" if math.isfinite(_f(g.get("lo"))) else "—",
                     f"{_g(wf.get('alpha'))} [{_g(wf.get('lo'))}, {_g(wf.get('hi'))}]", _g(wf.get("L0"), ".3g"),
                     _spread(ht)])
    for x in sorted(result.get("theory", []), key=lambda x: (x["a"], x["b"], x["normalize"], x["N"])):
        r = x.get("range")
        h = x.get("halftimes_resolved") or {}  # the features resolved in the runs: comparable spreads
        rows.append(["sequential theory (exact, K = N)", str(x["N"]), str(x["N"]), f"{x['a']:g}", f"{x['b']:g}",
                     _norm(x["normalize"]), "—", "0 (exact)",
                     f"[{_g(r['t_lo'], '.3g')}, {_g(r['t_hi'], '.3g')}]" if r else "none ≥ min",
                     _g(r["decades"], ".2f") if r else "—", _g(x.get("value")), "— (exact)", "—", "—",
                     _spread(h)])
    return head, rows


def decision_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the rule's table: per (a, b, normalization), the value and status at each N."""
    d = result["decision"]
    ns = sorted({int(k[1:]) for r in d["rows"] for k in r if k.startswith("N") and k[1:].isdigit()})
    head = ["a", "b", "frequencies", "pre-registered"] + [f"N = {n}: exponent [interval], status" for n in ns] + [
        "drift"]
    rows = []
    for r in d["rows"]:
        cells = []
        for n in ns:
            c = r.get(f"N{n}")
            cells.append("missing" if not c else f"{_g(c['value'])} [{_g(c['lo'])}, {_g(c['hi'])}], {c['status']}")
        rows.append([f"{r['a']:g}", f"{r['b']:g}", _norm(r["normalize"]), "yes" if r.get("required") else "no"]
                    + cells + [_g(r.get("drift"), "+.3f")])
    return head, rows


def mechanism_text(result: dict[str, Any]) -> list[str]:
    """Sentences on the half-time spreads per a, and whether the spread predicts the exponent."""
    out = []
    for a in sorted({g["a"] for g in result.get("groups", [])}):
        parts = []
        for g in [g for g in result["groups"] if g["a"] == a and g["variant"] == "fixed" and 4 * g["K"] == g["N"]]:
            ht = g.get("halftimes") or {}
            th = next((x for x in result.get("theory", []) if (x["a"], x["b"], x["normalize"], x["N"]) ==
                       (g["a"], g["b"], g["normalize"], g["N"])), None)
            ts = (th or {}).get("halftimes_resolved") or {}
            parts.append(f"N = {g['N']}, b = {g['b']:g}, {_norm(g['normalize'])}: with superposition "
                         f"{_g(ht.get('spread'), '.2f')}{' (≥)' if ht.get('censored') else ''} decades, without "
                         f"(sequential theory, same features) {_g(ts.get('spread'), '.2f')}"
                         f"{' (≥)' if ts.get('censored') else ''}")
        if parts:
            out.append(f"a = {a:g}: spread of log10 t_half (10–90 %) — " + "; ".join(parts) + ".")
    m = result.get("mechanism", {})
    for key, what in (("spearman_all", "every student and the theory"), ("spearman_fixed", "the ReLU students")):
        s = m.get(key, {})
        out.append(f"Rank correlation of spread and exponent over {what}: Spearman ρ = {_g(s.get('rho'), '.2f')} "
                   f"(p = {_g(s.get('p'), '.2g')}, n = {s.get('n', 0)} points).")
    return out


def reading(result: dict[str, Any]) -> list[str]:
    """Plain sentences on what the data allow, generated from the result."""
    P = result["params"]
    fixed = [g for g in result.get("groups", []) if g["variant"] == "fixed"]
    bound = [g for g in fixed if g.get("bound")]
    out = []
    if fixed:
        out.append(f"{len(fixed) - len(bound)} of {len(fixed)} ReLU curves reached their plateau (late slope ≤ "
                   f"{P['flat_tol']:g}); for the other {len(bound)} the exponent shown is −d log L/d log t, a lower "
                   "bound on the exponent above the (unreached) plateau.")
        pairs = [f"N = {g['N']}, K = {g['K']}, a = {g['a']:g}, b = {g['b']:g}, {_norm(g['normalize'])}: "
                 f"{_g(g['value'])}{' (≥)' if g.get('bound') else ''} on t ∈ [{_g(g['range']['t_lo'], '.3g')}, "
                 f"{_g(g['range']['t_hi'], '.3g')}] against {_g((g.get('window_fit') or {}).get('alpha'))}"
                 for g in fixed if math.isfinite(_f(g.get("value"))) and g.get("range")]
        if pairs:
            out.append("Exponent over the longest constant range against the paper's window fit (L0 free): "
                       + "; ".join(pairs) + ".")
    peaks = [g for g in fixed if isinstance(g.get("peak"), dict) and math.isfinite(_f(g["peak"].get("value")))]
    if peaks:
        out.append("EXPLORATORY, not pre-registered (the rule does not use it): the largest raw local exponent "
                   "−d log L/d log t of each ReLU curve, a lower bound on the exponent above any plateau at that "
                   "t (upper bound: with L∞ ≤ the last loss) — " + "; ".join(
                       f"N = {g['N']}, K = {g['K']}, a = {g['a']:g}, b = {g['b']:g}, {_norm(g['normalize'])}: "
                       f"{_g(g['peak']['value'], '.2f')} (per-seed peaks: 95 % CI [{_g(g['peak'].get('lo'), '.2f')}, "
                       f"{_g(g['peak'].get('hi'), '.2f')}]) at t ≈ {_g(g['peak']['t'], '.2g')}"
                       + (f" (≤ {_g(g['peak'].get('upper'), '.2f')} above the plateau)"
                          if math.isfinite(_f(g["peak"].get("upper"))) else "")
                       + (", still rising at the end of the run" if g["peak"].get("at_end") else "")
                       for g in peaks) + ".")
    lin = [g for g in result.get("groups", []) if g["variant"] == "linear"]
    if lin and not any(math.isfinite(_f(g.get("value"))) for g in lin):
        l0 = [_f(g["loss_mean"][0]) for g in lin if g.get("loss_mean")]
        li = [_f(g.get("L_inf")) for g in lin]
        out.append(f"The linear student reaches its plateau (L∞ = {min(li):.3g}–{max(li):.3g}, from L(t = 1) = "
                   f"{min(l0):.3g}–{max(l0):.3g}): its excess never reaches {P['min_excess']:g}·L∞, so the rule "
                   "measures no exponent for it; its window fits are in the table.")
    return out


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return ("<table class='claims'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in [list(head)] + [list(r) for r in rows]]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc[1:]])


def _verdict_line(result: dict[str, Any]) -> str:
    d = result["decision"]
    pilot = (" This run is the PILOT grid, not the pre-registered one; the rule needs the pre-registered "
             "grid to say \"universal\" or \"refuted\"." if result.get("pilot") else "")
    it = result.get("interim")
    interim = (f" INTERIM: analyzed from {it['stored']} of the {it['planned']} runs of the grid (supdyn reproduce "
               "--stored-only); the missing ones are reported as missing." if it else "")
    return f"Decision under the pre-registered rule: {d['decision']}.{pilot}{interim}"


def section(result: dict[str, Any]) -> tuple[str, str]:
    """(title, HTML) of the report section."""
    d = result["decision"]
    eh, er = exponent_rows(result)
    dh, dr = decision_rows(result)
    body = [f"<p>{html.escape(QUESTION)}</p>", f"<p><b>Rule (pre-registered):</b> {html.escape(result['rule'])}</p>",
            f"<p><b>{html.escape(_verdict_line(result))}</b></p>"]
    if d["reasons"]:
        body.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in d["reasons"]) + "</ul>")
    if d["to_decide"]:
        body.append("<p>What would decide it:</p><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in d["to_decide"])
                    + "</ul>")
    body.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in reading(result)) + "</ul>")
    body += ["<h3>The rule's points</h3>", _html_table(dh, dr), "<h3>Exponents and ranges</h3>", _html_table(eh, er),
             "<h3>The mechanism: per-feature half-loss times</h3><ul>"
             + "".join(f"<li>{html.escape(s)}</li>" for s in mechanism_text(result)) + "</ul>"]
    return "Is α ≈ 1 universal? (pre-registered, our test)", "\n".join(body)


def markdown(result: dict[str, Any], figures: Sequence[str] = (), costs: Sequence[str] = (),
             provenance: str = "") -> str:
    """The page ``docs/universality.md``: ``figures`` are PNG paths relative to the page, ``costs`` the
    dry run's cost lines, ``provenance`` how the result was made (command, date, wall time)."""
    d = result["decision"]
    eh, er = exponent_rows(result)
    dh, dr = decision_rows(result)
    P = result["params"]
    out = ["# Is α ≈ 1 universal?", "",
           "<!-- generated by scripts/universality_page.py from docs/universality/results.json; do not edit -->", "",
           "## The question", "", QUESTION, "",
           "## The pre-registered analysis and rule", "",
           "Written in `src/supdyn/specs/universality.toml` and committed before any run of the experiment.", "",
           f"* Plateau L∞: mean loss over the last {P['plateau_decades']:g} decades of t, accepted if the mean of "
           f"−d log L/d log t there is ≤ {P['flat_tol']:g}; else L∞ = 0 and the exponents are lower bounds.",
           f"* Local exponent −d log(L − L∞)/d log t: slope over ±{P['smooth'] / 2:g} decades of the seed-mean "
           f"curve; points with L − L∞ < {P['min_excess']:g}·L∞ dropped.",
           f"* Longest range of ≥ {P['min_decades']:g} decade(s) within ±{P['range_tol']:g}; its value is the mean "
           "local exponent over it; interval: the same mean per seed, 95 % percentile bootstrap over seeds.",
           f"* The paper's method for comparison only: c·t^−α + L0 on [{P['fit_window'][0]:g}, "
           f"{P['fit_window'][1]:g}].",
           "", f"**Rule.** {result['rule']}", "",
           "## Verdict", "", f"**{_verdict_line(result)}**", ""]
    out += [f"* {r}" for r in d["reasons"]]
    if d["to_decide"]:
        out += ["", "What would decide it:", ""] + [f"* {r}" for r in d["to_decide"]]
    out += ["", "What the data allow:", ""] + [f"* {r}" for r in reading(result)]
    out += ["", "## The rule's points (ReLU student, fixed W, K = N/4)", "", _md_table(dh, dr), "",
            "## Exponents and ranges (every student)", "", _md_table(eh, er), ""]
    if figures:
        out += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [
            "", "Local exponent against t for every a (columns) and N, frequencies and b (rows): ReLU student with "
            "fixed W at K = N/4 (solid) and N/8 (dashed), the linear student (dotted), the exact sequential theory "
            "(black); green: the band; thick: each curve's longest range at its value. Then the distributions of "
            "log10 t_half per feature, and the spread against the exponent.", ""]
    out += ["## The mechanism: do random embeddings equalize the features' learning rates?", ""]
    out += [f"* {s}" for s in mechanism_text(result)] + [""]
    if costs:
        out += ["## Cost of the pre-registered grid", "", "```"] + list(costs) + ["```", ""]
    out += ["## Running the pre-registered grid", "",
            "Each half is one command (the runs go to the store S; a store already holding some computes only "
            "the rest):", "", "```",
            "supdyn sweep examples/universality_n1024.toml --store S --executor dask --workers W  # or --slurm",
            "supdyn sweep examples/universality_n4096.toml --store S --device cuda  # one GPU, or --slurm",
            "supdyn reproduce --full --only universality --store S --out OUT  # the analysis",
            "supdyn reproduce --full --only universality --store S --out OUT --stored-only  # interim: stored runs only",
            "python scripts/universality_page.py --from OUT/results/universality.json  # this page",
            "```", ""]
    if provenance:
        out += ["## How this page was made", "", provenance, ""]
    return "\n".join(out)


__all__ = ["compact", "decision_rows", "exponent_rows", "markdown", "mechanism_text", "reading", "section"]
