"""The report section of the ``geometry`` experiment: our checks (not claims of the paper) of how the
learned embedding's represented features, dimensionality and α change with a, weight decay and correlation."""

from __future__ import annotations

import html
import math
from typing import Any

ORDER = {"none": 0, "cooccur": 1, "exclusive": 2}


def _f(x: Any, fmt: str = ".3f") -> str:
    return "—" if x is None or not math.isfinite(float(x)) else format(float(x), fmt)


def _iv(entry: dict[str, Any] | None, fmt: str) -> str:
    """``mean [lo, hi]`` of a seed summary (``mean`` alone without an interval)."""
    if not entry:
        return "—"
    m = _f(entry.get("mean"), fmt)
    lo, hi = entry.get("lo"), entry.get("hi")
    if lo is None or hi is None or not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return m
    return f"{m} [{_f(lo, fmt)}, {_f(hi, fmt)}]"


def table_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """The table as text cells, one dict per setting (sorted by correlation, weight decay, a): the same
    cells the HTML shows, for the closing note of a run."""
    out = []
    for r in sorted(result.get("rows", []), key=lambda r: (ORDER.get(r["correlation"], 9), r["weight_decay"], r["a"])):
        f = r["fit"]
        n_t = r.get("n_rep_t") or []
        t = r.get("snapshot_t") or []
        out.append({
            "a": f"{r['a']:g}", "correlation": r["corr_label"], "weight decay": f"{r['weight_decay']:g}",
            "seeds": str(len(r["seeds"])),
            "represented vs t": ", ".join(f"{_f(n, '.0f')}@{tt:g}" for tt, n in zip(t, n_t)) or "—",
            "represented (E) at end": _iv(r.get("n_rep_end"), ".1f"),
            "represented (D) at end": _iv(r.get("n_rep_other"), ".1f"),
            "mean D_i": _iv(r.get("d_mean"), ".3f"), "median D_i": _iv(r.get("d_median"), ".3f"),
            "own (D_i ≥ %g)" % result.get("own_direction", 0.9): _iv(r.get("frac_own"), ".3f"),
            "shared (D_i < %g)" % result.get("shared_below", 0.6): _iv(r.get("frac_shared"), ".3f"),
            "Σ D_i": _iv(r.get("sum_d"), ".1f"),
            "α [95 %]": f"{_f(f.get('alpha'))} [{_f(f.get('lo'))}, {_f(f.get('hi'))}]",
            "final loss": _f(r.get("final_loss"), ".3g"),
        })
    return out


def section(result: dict[str, Any]) -> tuple[str, str]:
    """(title, HTML): the checks with their rules and outcomes, then one row per setting."""
    rows = table_rows(result)
    w = result.get("window", [1e3, 1e4])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {"setting": ""}))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    checks = "".join(
        f"<tr><td>{html.escape(c['statement'])}</td><td>{html.escape(c['measured'])}</td>"
        f"<td><b>{html.escape(c['outcome'])}</b></td><td>{html.escape(c['rule'])}</td></tr>"
        for c in result.get("checks", []))
    text = (f"<p>Our checks, not claims of the paper. The learnable student (E, D trained by SGD from the fixed "
            f"W, Wᵀ). A feature is represented when ‖{html.escape(result.get('embedding', 'E'))}_i‖ ≥ "
            f"{result.get('represented_norm', 0.5):g} (all N are at t = 0: the columns of W have unit norm); D_i = "
            "‖E_i‖² / Σ_j (Ê_i · E_j)² of the represented features at the last snapshot (1: a direction of its "
            "own, 1/2: shared with one other); Σ_i D_i ≤ K. α of L = c t<sup>−α</sup> + L0 on "
            f"t ∈ [{_f(w[0], 'g')}, {_f(w[1], 'g')}], 95 % percentile bootstrap over seeds; the other columns are "
            "seed means with a 95 % Student-t interval over seeds (with 2 seeds: 1 degree of freedom, wide). "
            "“represented vs t” is n@t at each snapshot time (seed mean).</p>")
    return ("Feature geometry of learned embeddings (our checks)",
            f"{text}<table class='claims'><tr><th>check</th><th>measured</th><th>outcome</th><th>rule</th></tr>"
            f"{checks}</table><p></p><table class='claims'><tr>{head}</tr>{body}</table>")
