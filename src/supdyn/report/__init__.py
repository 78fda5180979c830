"""The replication report: ``claims.json`` and a static ``report.html`` (no server needed).

The page opens with a tally (the paper's claims by verdict, our checks by outcome) and the rules, then
two tables — the paper's claims, and our own consistency checks — each row with the paper's value,
ours with its interval and what that interval is, the fit window, the verdict, the rule that decided
it and the reasons (with the numbers); then every figure (PNG files beside the page, linked
relatively) with a caption saying what to look at and which claims it bears on, the settings and
versions used, and the caveats that a reader needs to judge the numbers. ``claims.md`` holds the tally
and the two tables in Markdown (the README's table is this file).
"""

from __future__ import annotations

import html
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

CAVEATS = [
    "Every number in this report comes from runs made by this command; none is copied from the paper.",
    "Exponents are fitted on a stated window; the local exponent and the sliding-window table show how "
    "much they depend on it. A single power law rarely holds over more than a decade or two here.",
    "Finite N matters: the asymptotic no-superposition exponent (a + 2b − 1)/a only holds when "
    "1 ≪ (learned features) ≪ N; at N = 1024 and t ≤ 1e4 the fitted values sit away from it "
    "(see the finite-N panel of fig3).",
    "The paper does not state its learning rate, batch size, initialization scale or step count, and "
    "its Sec. 2.1 (Σp_i = 1) and eq. 7 / Fig. 9 (p_i = i^-a) disagree; our defaults are stated below "
    "and `supdyn reproduce --readings` evaluates every claim under each plausible reading.",
    "Quick mode uses fewer seeds, (a, b) points and widths than the paper: one seed per point except (a, b, K) = "
    "(1.1, 0, 128), run with 3 seeds (fixed and learnable embeddings) to measure the seed-to-seed spread of α that "
    "the single-seed points' intervals add to their fit SE. 'inconclusive' there means the data cannot decide "
    "the claim at its margin, not that it failed.",
    "Quick mode runs the width sweep of Figs. 7, 13 and 14 at a reduced scale, N = 256 with K = 8 … 64 "
    "(K/N from 1/32 to 1/4, as K = 32 … 256 at N = 1024): at N = 1024 no width reaches its plateau "
    "within the quick budget. Full mode runs them at N = 1024 and K = 32 … 1024.",
]

# marks <body data-images-loaded="true|false" data-claims="N" data-checks="M"> once the page has loaded, so a headless
# browser can check that every figure was found and decoded
LOAD_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images-loaded', ok ? 'true' : 'false');
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-claims', String(document.querySelectorAll('table.claims tr.claim').length));
  document.body.setAttribute('data-checks', String(document.querySelectorAll('table.checks tr.check').length));
});
</script>"""

VERDICT_COLOURS = {"reproduced": "#d8f0d8", "passed": "#d8f0d8", "inconclusive": "#fbefc9",
                   "not reproduced": "#f6d5d5", "failed": "#f6d5d5", "not tested": "#e6e6e6"}
CLAIM_ORDER = ("reproduced", "not reproduced", "inconclusive", "not tested")
CHECK_ORDER = ("passed", "failed", "inconclusive", "not tested")

RULES_TEXT = [
    "“≈ value”, “equal”, “indistinguishable”: an equivalence test, two one-sided tests (TOST) at 5% and a margin "
    "stated in the experiment's spec: reproduced if the 90% confidence interval lies inside [target − margin, "
    "target + margin] and includes seed-to-seed variation (≥ 3 seeds, or a seed SD pooled from replicated points); "
    "not reproduced if it lies entirely outside; inconclusive otherwise (it crosses an edge of the band, is wider "
    "than it, or the data lack seeds or degrees of freedom). A deterministic theory value has no interval and is "
    "compared with the band directly.",
    "“above / below a threshold”: the whole interval must clear the threshold to pass and lie entirely on the other "
    "side to fail; a single-seed value without an interval decides only when it clears the threshold by the "
    "allowance stated in the spec; else inconclusive.",
    "A claim about every member of a set (every (a, b, K) point, every compute level, every width) needs every "
    "member: one failing member fails it, one undecided member leaves it inconclusive.",
    "A claim at a stated time is judged at that time. The interval column says what it is; the reasons column says "
    "why each verdict was reached, with the numbers.",
]


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return f"[{v[0]:.4g}, {v[1]:.4g}]"
    return html.escape(str(v))


def split_rows(claims: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the paper's claims, our checks) — rows without a ``kind`` are claims."""
    rows = list(claims)
    return [c for c in rows if c.get("kind", "claim") != "check"], [c for c in rows if c.get("kind") == "check"]


def tally(claims: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{"claims": {verdict: count}, "checks": {outcome: count}} in the vocabularies' order."""
    paper, ours = split_rows(claims)
    return {"claims": {v: sum(c.get("verdict") == v for c in paper) for v in CLAIM_ORDER},
            "checks": {v: sum(c.get("verdict") == v for c in ours) for v in CHECK_ORDER}}


def tally_text(claims: Sequence[dict[str, Any]]) -> str:
    """'23 paper claims: 5 reproduced, …; 6 checks: 2 passed, …' (plain text)."""
    t = tally(claims)
    paper = ", ".join(f"{n} {v}" for v, n in t["claims"].items())
    ours = ", ".join(f"{n} {v}" for v, n in t["checks"].items())
    return (f"{sum(t['claims'].values())} paper claims: {paper}; "
            f"{sum(t['checks'].values())} consistency checks of ours: {ours}")


def _reasons(c: dict[str, Any]) -> str:
    items = [html.escape(str(r)) for r in (c.get("reasons") or [])]
    out = "<ul class='reasons'>" + "".join(f"<li>{r}</li>" for r in items) + "</ul>" if items else ""
    if c.get("details"):
        out += f"<details><summary>numbers</summary>{html.escape(str(c['details']))}</details>"
    return out


def claims_table_html(claims: Sequence[dict[str, Any]], *, reading_column: bool = False, checks: bool = False) -> str:
    """The table of claims (or of checks): one row each with the verdict, the numbers, the interval and
    what it is, the rule and the reasons."""
    cols = ["id", "figure", "statement", "paper_value", "measured", "interval", "interval_kind", "window", "verdict",
            "rule", "reasons"]
    if reading_column:
        cols.insert(1, "reading")
    head = "".join(f"<th>{'expected' if c == 'paper_value' and checks else c.replace('_', ' ')}</th>" for c in cols)
    rows = []
    for c in claims:
        colour = VERDICT_COLOURS.get(c.get("verdict", ""), "#fff")
        cells = []
        for k in cols:
            if k == "verdict":
                cells.append(f'<td class="verdict" style="background:{colour}"><b>{_fmt(c.get(k))}</b></td>')
            elif k == "reasons":
                cells.append(f"<td class='why'>{_reasons(c)}</td>")
            elif k == "id":
                cells.append(f"<td><code>{_fmt(c.get(k))}</code></td>")
            elif k == "rule":
                cells.append(f"<td><small>{_fmt(c.get(k))}</small></td>")
            else:
                cells.append(f"<td>{_fmt(c.get(k))}</td>")
        rows.append(f'<tr class="{"check" if checks else "claim"}" data-id="{html.escape(str(c.get("id")))}" '
                    f'data-verdict="{html.escape(str(c.get("verdict")))}">{"".join(cells)}</tr>')
    cls = "claims checks" if checks else "claims"
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def tally_html(claims: Sequence[dict[str, Any]]) -> str:
    t = tally(claims)

    def cells(d: dict[str, int]) -> str:
        return "".join(f"<td style='background:{VERDICT_COLOURS[v]}'>{html.escape(v)}: <b>{n}</b></td>"
                       for v, n in d.items())
    return ("<table class='tally'><tr><th>paper claims "
            f"({sum(t['claims'].values())})</th>{cells(t['claims'])}</tr><tr><th>our checks "
            f"({sum(t['checks'].values())})</th>{cells(t['checks'])}</tr></table>")


def markdown_tables(claims: Sequence[dict[str, Any]]) -> str:
    """The tally and the two tables (claims, checks) in Markdown, as the README shows them."""
    def esc(x: Any) -> str:
        return _plain(x).replace("|", "\\|")

    def table(rows: Sequence[dict[str, Any]], first: str) -> list[str]:
        out = [f"| {first} | paper | measured | interval | interval is | window | verdict |", "|---|---|---|---|---|---|---|"]
        for c in rows:
            out.append(f"| `{c['id']}` | {esc(c.get('paper_value'))} | {esc(c.get('measured'))} | "
                       f"{esc(c.get('interval'))} | {esc(c.get('interval_kind'))} | {esc(c.get('window'))} | "
                       f"{esc(c.get('verdict'))} |")
        return out
    paper, ours = split_rows(claims)
    lines = [tally_text(claims) + ".", "", "Paper claims:", "", *table(paper, "claim"), "", "Our consistency checks:", "",
             *table(ours, "check"), ""]
    return "\n".join(lines)


def _plain(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return f"[{v[0]:.3g}, {v[1]:.3g}]"
    return str(v)


def write_report(out_dir: str | os.PathLike, *, claims: Sequence[dict[str, Any]],
                 figures: dict[str, list[str]], titles: dict[str, str], settings: dict[str, Any],
                 versions: dict[str, str], mode: str, wall_time: float,
                 extra_sections: Sequence[tuple[str, str]] = (), captions: dict[str, str] | None = None) -> Path:
    """Write ``claims.json``, ``claims.md`` and ``report.html`` into out_dir; return the page's path.

    claims: row dicts (``Claim.to_dict()``, ``kind`` "claim" or "check"); claims.json keeps the paper's
    claims under ``claims`` and our checks under ``checks``, with the tally in ``tally``.
    figures: experiment name → figure files (paths relative to out_dir; PNGs are shown).
    captions: experiment name → caption shown under its figures (what to look at, which claims).
    extra_sections: (title, html) pairs appended after the figures (e.g. the readings section).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    captions = captions or {}
    paper, ours = split_rows(claims)
    doc = {"mode": mode, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_time_s": wall_time,
           "versions": versions, "settings": settings, "tally": tally(claims), "rules": RULES_TEXT,
           "claims": paper, "checks": ours}
    _atomic_write(out / "claims.json", json.dumps(doc, indent=1, allow_nan=False))
    _atomic_write(out / "claims.md", markdown_tables([c for c in claims if c.get("reading", "stated") == "stated"]))
    by_experiment: dict[str, list[str]] = {}
    for c in claims:
        if c.get("experiment"):
            by_experiment.setdefault(str(c["experiment"]), []).append(str(c.get("id")))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>supdyn replication report</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:4px 6px;"
        "vertical-align:top}th{background:#eee}figure{display:inline-block;margin:6px;max-width:100%}"
        "img{max-width:100%;border:1px solid #ddd}h2{border-bottom:1px solid #ccc}ul.reasons{margin:0;"
        "padding-left:1.2em}p.caption{max-width:1000px;background:#f7f7f7;padding:6px}</style></head><body>",
        "<h1>supdyn replication report</h1>",
        f"<p>Paper: <i>Superposition unifies power-law training dynamics</i>. Mode: <b>{html.escape(mode)}</b>. "
        f"Generated {doc['created']} in {wall_time:.0f} s.</p>",
        "<h2 id='tally'>Tally</h2>", tally_html(claims),
        "<h2 id='rules'>How a verdict is reached</h2><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in RULES_TEXT)
        + "</ul>",
        "<h2 id='claims'>The paper's claims</h2>", claims_table_html(paper),
        "<h2 id='checks'>Our consistency checks</h2><p>Checks of our own (the SGD against its theory, the theory "
        "against its asymptote, the fit against its window): not claims of the paper.</p>",
        claims_table_html(ours, checks=True),
        "<h2 id='caveats'>Caveats</h2><ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in CAVEATS) + "</ul>",
        "<h2 id='figures'>Figures</h2>",
    ]
    for name, files in figures.items():
        pngs = [f for f in files if f.endswith(".png")]
        parts.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}: {html.escape(titles.get(name, ''))}</h3>")
        for f in pngs:
            parts.append(f"<figure><img class='fig' src='{html.escape(f)}' alt='{html.escape(name)}'>"
                         f"<figcaption>{html.escape(f)} (PDF beside it)</figcaption></figure>")
        cap = captions.get(name, "")
        ids = by_experiment.get(name, [])
        bears = (" Bears on: " + ", ".join(ids) + ".") if ids else ""
        if cap or bears:
            parts.append(f"<p class='caption'>{html.escape(cap)}{html.escape(bears)}</p>")
    for title, body in extra_sections:
        parts.append(f"<h2>{html.escape(title)}</h2>{body}")
    parts.append("<h2 id='settings'>Settings and versions</h2><pre>"
                 + html.escape(json.dumps({"settings": settings, "versions": versions,
                                           "python": platform.python_version()}, indent=1)) + "</pre>")
    parts.append(LOAD_CHECK)
    parts.append("</body></html>")
    page = out / "report.html"
    _atomic_write(page, "\n".join(parts))
    return page


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
