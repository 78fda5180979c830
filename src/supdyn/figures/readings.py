"""The figure of the report's readings section: Fig. 5's layout (fitted mid-training α against a at
b = 0 and against b at a = 1.1, superposition student at the width every reading shares) with one line
per reading of the paper's unstated choices, written as ``readings_alpha.png`` and ``.pdf``.

Input: ``results`` = {experiment: {reading name: result dict}} (fig5's results are drawn) and the
readings (:data:`supdyn.experiments.READINGS` or a part of it, STATED first).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from supdyn.figures.common import figure, num, save

STEM = "readings_alpha"


def fig5_points(results: dict[str, dict[str, Any]], reading: str) -> list[dict[str, Any]]:
    """fig5's points under the reading named ``reading`` (none if fig5 was not analyzed under it)."""
    res = (results.get("fig5") or {}).get(reading) or {}
    return [p for p in res.get("points", []) or [] if isinstance(p, dict)]


def _run_key(reading: Any) -> tuple:
    """What decides a reading's runs (readings that differ only in the fit share them, and a colour)."""
    return tuple(sorted((getattr(reading, "overrides", {}) or {}).items())), getattr(reading, "lr_factor", 1.0)


def draw(results: dict[str, dict[str, Any]], readings: Sequence[Any], out_dir: Path) -> list[Path]:
    """Fig. 5's layout, one line per reading: α against a (b = 0) and against b (a = 1.1), at the width
    K present under the most readings. Error bars: the points' 95% intervals; dashed: each point's
    no-superposition asymptote of eq. 8 (from the results). Returns [png, pdf]."""
    counts: Counter = Counter()
    for r in readings:
        counts.update({int(p["K"]) for p in fig5_points(results, r.name) if p.get("K") is not None})
    k_common = max(counts, key=lambda k: (counts[k], k == 256, -k)) if counts else None
    run_keys: list[tuple] = []
    for r in readings:
        if _run_key(r) not in run_keys:
            run_keys.append(_run_key(r))
    fig, axes = figure(2, 1, width=5.0, height=3.6)
    for ax, (var, fixed, ref) in zip(axes[0], (("a", "b", 0.0), ("b", "a", 1.1))):
        ax.axhspan(0.85, 1.15, color="#2a7", alpha=0.10, lw=0, label="α = 1 ± 0.15 (rule)")
        ax.axhline(1.0, color="#2a7", lw=0.8)
        theory: dict[float, float] = {}
        for r in readings:
            pts = [p for p in fig5_points(results, r.name)
                   if k_common is not None and int(p.get("K", -1)) == k_common
                   and math.isclose(num(p.get(fixed)), ref)]
            pts = sorted(pts, key=lambda p: num(p.get(var)))
            if not pts:
                continue
            ci = run_keys.index(_run_key(r))
            norm = (getattr(r, "overrides", {}) or {}).get("normalize", "sum")
            x = [num(p.get(var)) + 0.012 * (ci - len(run_keys) / 2) * (1 if var == "a" else 0.5) for p in pts]
            y = [num(p["fit"].get("alpha")) for p in pts]
            lo = [yy - num(p["fit"].get("lo")) for yy, p in zip(y, pts)]
            hi = [num(p["fit"].get("hi")) - yy for yy, p in zip(y, pts)]
            err = [[max(v, 0.0) if math.isfinite(v) else 0.0 for v in lo],
                   [max(v, 0.0) if math.isfinite(v) else 0.0 for v in hi]]
            ax.errorbar(x, y, yerr=err, color=f"C{ci % 10}", ls="-" if r.fit_offset else ":",
                        marker="o" if norm == "sum" else "s", ms=4, capsize=2, label=r.name)
            for p in pts:
                theory[num(p.get(var))] = num(p.get("alpha_nosup_asym"))
        if theory:
            xs = sorted(theory)
            ax.plot(xs, [theory[v] for v in xs], "k--", lw=1.0, label="no superposition, (a+2b−1)/a (eq. 8)")
        ax.set_xlabel(f"{var} ({'input decay' if var == 'a' else 'channel decay'}; {fixed} = {ref:g})")
        ax.set_ylabel(f"fitted α on the fit window (K = {k_common})")
        ax.set_title(f"α vs {var}, one line per reading")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for h, lab in zip(*axes[0, 1].get_legend_handles_labels()):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside right upper", fontsize=6.5, title="reading (• Σp=1, ■ p=i^-a; "
               "dotted: L0 pinned)", title_fontsize=7)
    return save(fig, out_dir, STEM)
