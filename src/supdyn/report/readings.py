"""Report section "Which reading reproduces the paper": every claim under every reading.

Input (from ``supdyn reproduce --readings``): ``results`` = {experiment: {reading name: result dict}},
``claims`` = claim dicts (``Claim.to_dict()`` + ``reading``) of every reading, ``readings`` = the
:class:`~supdyn.experiments.base.Reading` list (STATED first). Output: (title, html) with

* the readings (their choices and the runs each one trained: the stated reading uses the mode's grid,
  the others the reduced ``[readings]`` grids, so a verdict may rest on fewer (a, b, K) points);
* the table claim × reading → measured value, 95% interval and verdict (colour), and per claim the
  readings under which it is reproduced (check: passed) / inconclusive / not reproduced (failed) / not
  tested;
* the figure drawn by :mod:`supdyn.figures.readings` (Fig. 5's layout, one line per reading), given
  as its files;
* plain sentences generated from the table. Nothing is selected or tuned: every reading is shown.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Sequence

VERDICT_ORDER = ("reproduced", "passed", "inconclusive", "not reproduced", "failed", "not tested")
COLOURS = {"reproduced": "#d8f0d8", "passed": "#d8f0d8", "inconclusive": "#fbefc9", "not reproduced": "#f6d5d5",
           "failed": "#f6d5d5", "not tested": "#e6e6e6", None: "#ffffff"}


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _fmt(x: Any) -> str:
    v = _f(x)
    return "—" if not math.isfinite(v) else f"{v:.3g}"


def _names(items: Sequence[str]) -> str:
    items = list(items)
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _choices(reading: Any) -> str:
    o = getattr(reading, "overrides", {}) or {}
    return (f"Σp: {o.get('normalize', 'sum')}, lr ×{getattr(reading, 'lr_factor', 1.0):g}, "
            f"init {float(o.get('init_scale', 1e-3)):.0e}, L0 {'free' if getattr(reading, 'fit_offset', True) else 'pinned'}")


def claim_table(claims: Sequence[dict[str, Any]], readings: Sequence[Any]
                ) -> tuple[list[str], dict[tuple[str, str], dict[str, Any]]]:
    """(claim ids in order of first appearance, {(claim id, reading name): claim})."""
    ids: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for c in claims:
        cid = str(c.get("id"))
        if cid not in ids:
            ids.append(cid)
        cells[(cid, str(c.get("reading", readings[0].name if readings else "stated")))] = c
    return ids, cells


def verdicts_by_claim(ids: Sequence[str], cells: dict[tuple[str, str], dict[str, Any]],
                      readings: Sequence[Any]) -> dict[str, dict[str, list[str]]]:
    """{claim id: {verdict: [reading names]}}; a claim absent under a reading counts as not tested."""
    out: dict[str, dict[str, list[str]]] = {}
    for cid in ids:
        by: dict[str, list[str]] = {v: [] for v in VERDICT_ORDER}
        for r in readings:
            v = cells.get((cid, r.name), {}).get("verdict", "not tested")
            by.setdefault(v, []).append(r.name)
        out[cid] = by
    return out


def sentences(ids: Sequence[str], cells: dict[tuple[str, str], dict[str, Any]], readings: Sequence[Any]) -> list[str]:
    """One plain sentence per claim, plus the headline (both panels of the universal α of fig5)."""
    by = verdicts_by_claim(ids, cells, readings)
    out = []
    uni = [c for c in ids if c.startswith("fig5_alpha_universal")]
    if uni:
        both = [r.name for r in readings if all(cells.get((c, r.name), {}).get("verdict") == "reproduced" for c in uni)]
        some = [r.name for r in readings if r.name not in both and
                all(cells.get((c, r.name), {}).get("verdict") in ("reproduced", "inconclusive") for c in uni)]
        out.append(f"The universal α ≈ 1 of the superposition student (fig5, {' and '.join(uni)}) is reproduced "
                   f"under {len(both)} of {len(readings)} readings ({_names(both)}); "
                   f"not refuted but not decided (inconclusive on some point) under "
                   f"{_names(some) if some else 'no other'}; "
                   f"every other reading fails it on at least one point or leaves it untested.")
    for cid in ids:
        v = by[cid]
        first = next((cells[(cid, r.name)] for r in readings if (cid, r.name) in cells), {})
        parts = [f"{verdict} under {len(v[verdict])} ({_names(v[verdict])})" for verdict in VERDICT_ORDER
                 if v.get(verdict)]
        out.append(f"{cid} (Fig. {first.get('figure', '?')}; paper {first.get('paper_value', '?')}): "
                   + "; ".join(parts) + ".")
    return out


def _grid_summary(name: str, mode: str, reading: Any) -> str:
    """Compact description of the runs experiment ``name`` uses under ``reading`` (from its configs)."""
    try:
        from supdyn import experiments as ex

        cfgs = ex.get(name).configs(mode, reading)
    except Exception as exc:  # noqa: BLE001 - a summary, never fatal
        return f"(grid unavailable: {exc})"
    if not cfgs:
        return "no runs (theory only)"
    ks = sorted({c.model.d_hidden for c in cfgs})
    ab = sorted({(c.data.a, c.data.b) for c in cfgs})
    seeds = sorted({c.seed for c in cfgs})
    var = sorted({c.variant for c in cfgs})
    tm = sorted({c.train.t_max for c in cfgs})
    return (f"K ∈ {{{', '.join(map(str, ks))}}}; (a, b) ∈ {{{', '.join(f'({a:g}, {b:g})' for a, b in ab)}}}; "
            f"{len(seeds)} seed(s); {', '.join(var)}; t_max {', '.join(f'{x:g}' for x in tm)} "
            "(lr, normalization and init: the reading's)")


def _cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return f"<td style='background:{COLOURS['not tested']}' title='not evaluated'>—</td>"
    iv = c.get("interval")
    ivs = f"<br><small>[{_fmt(iv[0])}, {_fmt(iv[1])}]</small>" if iv else ""
    v = c.get("verdict")
    why = " ".join(str(x) for x in (c.get("reasons") or []))
    tip = html.escape(f"{c.get('rule', '')} | {why} | {c.get('details', '')}", quote=True)
    return (f"<td class='rv' data-verdict='{html.escape(str(v))}' style='background:{COLOURS.get(v, '#fff')}' "
            f"title='{tip}'>{_fmt(c.get('measured'))}{ivs}<br><small>{html.escape(str(v))}</small></td>")


def readings_section(out_dir: str | Path, results: dict[str, dict[str, dict[str, Any]]],
                     claims: Sequence[dict[str, Any]], readings: Sequence[Any], *,
                     figure_files: Sequence[Path] = (), figure_error: str = "") -> tuple[str, str]:
    """The section (title, html). ``figure_files``: the readings figure's [png, pdf] under out_dir
    (``supdyn.figures.draw_readings``), or ``figure_error``: why it could not be drawn."""
    out = Path(out_dir)
    readings = list(readings)
    ids, cells = claim_table(claims, readings)
    by = verdicts_by_claim(ids, cells, readings)
    parts = ["<p>The paper does not state its learning rate, batch size, initialization scale or step count, "
             "and Sec. 2.1 (Σp<sub>i</sub> = 1) disagrees with eq. 7 and Fig. 9 (~400 features learned at "
             "t = 10<sup>3</sup>, which needs p<sub>i</sub> = i<sup>−a</sup>). Each <i>reading</i> below is one "
             "set of these choices; every claim is evaluated under every reading, none is tuned. The first "
             "reading is our stated default and uses the mode's grid; the others use the reduced "
             "<code>[readings]</code> grids (listed below), so their verdicts rest on fewer (a, b, K) points. "
             "Readings that differ only in the fit's L0 share their runs.</p>"]
    # readings and their grids
    modes = {}
    for name, per in results.items():
        for rname, res in per.items():
            if isinstance(res, dict) and res.get("mode"):
                modes[(name, rname)] = res["mode"]
    rows = []
    for i, r in enumerate(readings):
        rows.append(f"<tr><td>{i}</td><td><code>{html.escape(r.name)}</code></td><td>{html.escape(_choices(r))}</td>"
                    f"<td>{html.escape(r.description)}</td></tr>")
    parts.append("<h3>Readings</h3><table class='readings'><tr><th>#</th><th>name</th><th>choices</th>"
                 f"<th>description</th></tr>{''.join(rows)}</table>")
    grid_rows = []
    for name in results:
        seen: dict[str, list[str]] = {}
        for r in readings:
            mode = modes.get((name, r.name))
            if mode is None:
                continue
            seen.setdefault(_grid_summary(name, mode, r), []).append(r.name)
        index = {r.name: i for i, r in enumerate(readings)}
        for summary, names in seen.items():
            who = (names[0] if len(names) == 1 else
                   f"{len(names)} readings: " + ", ".join(f"#{index[n]}" for n in names))
            grid_rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(who)}</td>"
                             f"<td>{html.escape(summary)}</td></tr>")
    parts.append("<h3>Runs per experiment and reading</h3><p>lr: the mode's (quick: 1 for K ≥ 128, × K/128 "
                 "below; K = N: 1) times the reading's factor.</p><table class='readings'><tr><th>experiment</th>"
                 f"<th>readings</th><th>runs</th></tr>{''.join(grid_rows)}</table>")
    # claim × reading table
    head = "".join(f"<th title='{html.escape(r.description, quote=True)}'><small>{i}: {html.escape(r.name)}</small></th>"
                   for i, r in enumerate(readings))
    body = []
    for cid in ids:
        first = next((cells[(cid, r.name)] for r in readings if (cid, r.name) in cells), {})
        body.append(f"<tr class='rclaim' data-id='{html.escape(cid)}'><td><b>{html.escape(cid)}</b><br><small>Fig. "
                    f"{html.escape(str(first.get('figure', '')))}; paper {html.escape(str(first.get('paper_value', '')))}"
                    f"</small></td>" + "".join(_cell(cells.get((cid, r.name))) for r in readings) + "</tr>")
    parts.append("<h3>Claim × reading</h3><p>Each cell: measured value, its 95% interval, the verdict (hover for the "
                 "rule and details). — : not evaluated under that reading.</p><div style='overflow-x:auto'>"
                 f"<table class='claims readings-table'><tr><th>claim</th>{head}</tr>{''.join(body)}</table></div>")
    # which readings reproduce each claim
    index = {r.name: i for i, r in enumerate(readings)}
    rows = []
    for cid in ids:
        rows.append(f"<tr><td>{html.escape(cid)}</td>" + "".join(
            f"<td style='background:{COLOURS[v]}' title='{html.escape(_names(by[cid].get(v, [])), quote=True)}'>"
            f"{len(by[cid].get(v, []))}: {', '.join(f'#{index[n]}' for n in by[cid].get(v, [])) or '—'}</td>"
            for v in VERDICT_ORDER) + "</tr>")
    parts.append("<h3>Under which readings each claim holds</h3><p>Number of readings, then their numbers "
                 "(# in the readings table; hover for the names).</p><table class='readings'><tr><th>claim</th>"
                 + "".join(f"<th>{v}</th>" for v in VERDICT_ORDER) + f"</tr>{''.join(rows)}</table>")
    if figure_files:
        png, pdf = (Path(f).relative_to(out).as_posix() for f in figure_files[:2])
        parts.append("<h3>α against a and b under each reading (Fig. 5's layout)</h3><figure><img class='fig' "
                     f"src='{html.escape(png)}' alt='alpha per reading'><figcaption>Fitted mid-training "
                     "exponent α of the superposition student (one seed, interval ± 1.96 SE or bootstrap over "
                     "seeds) against a (b = 0) and b (a = 1.1), one line per reading; the green band is the "
                     "reproduction rule's α = 1 ± 0.15; dashed: the no-superposition asymptote (a + 2b − 1)/a. "
                     f"PDF: {html.escape(pdf)}</figcaption></figure>")
    elif figure_error:
        parts.append(f"<p>(figure not drawn: {html.escape(figure_error)})</p>")
    parts.append("<h3>What holds under which reading</h3><ul>"
                 + "".join(f"<li>{html.escape(s)}</li>" for s in sentences(ids, cells, readings)) + "</ul>")
    return "Which reading reproduces the paper", "\n".join(parts)


__all__ = ["claim_table", "readings_section", "sentences", "verdicts_by_claim"]
