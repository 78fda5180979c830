"""Universality (our test): (1) the local exponent −d log(L − L∞)/d log t against t, one panel per a
(columns) and (N, normalization, b) (rows): the ReLU student with fixed W at K = N/4 (solid) and N/8
(dashed), the linear student (control), the exact sequential theory (black); the band of the rule
shaded, each curve's longest range of constant exponent drawn thick at its value; (2) the distributions
of the per-feature half-loss times log10 t_half with and without superposition, same layout; (3) the
half-time spread against the exponent over every point."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, num, save

CAPTION = (
    "Universality (pre-registered; on request): the local exponent −d log(L − L∞)/d log t against t for the "
    "ReLU student with fixed W (K = N/4 solid, N/8 dashed), the linear student (control) and the exact "
    "sequential theory, one panel per a and (N, normalization, b); the rule's band [0.85, 1.15] is shaded and "
    "each curve's longest range of constant exponent is drawn thick. Look for whether every ReLU curve holds a "
    "decade inside the band (universality_alpha; compare fig5_alpha_universal_a, which fits one window). The "
    "half-time panels show the paper's mechanism: how much superposition narrows the spread of learning times.")


STYLES = {"fixed4": ("C0", "-", "ReLU, fixed W, K = N/4"), "fixed8": ("C2", "--", "ReLU, fixed W, K = N/8"),
          "linear": ("C1", ":", "linear WᵀBW (control)"), "theory": ("k", "-", "sequential theory (K = N)")}


def _kind(g: dict[str, Any]) -> str:
    if g["variant"] == "linear":
        return "linear"
    return "fixed4" if 4 * g["K"] == g["N"] else "fixed8"


def _layout(result: dict[str, Any]) -> tuple[list[float], list[tuple[int, str, float]]]:
    gs = result["groups"]
    a_vals = sorted({g["a"] for g in gs}) or [math.nan]
    rows = sorted({(g["N"], g["normalize"], g["b"]) for g in gs}) or [(0, "sum", 0.0)]
    return a_vals, rows


def _row_label(row: tuple[int, str, float]) -> str:
    n, norm, b = row
    return f"N = {n}, {'Σp = 1' if norm == 'sum' else 'p_i = i^−a'}, b = {b:g}"


def _members(result: dict[str, Any], a: float, row: tuple[int, str, float]) -> list[tuple[str, dict[str, Any]]]:
    n, norm, b = row
    out = [(_kind(g), g) for g in result["groups"] if (g["a"], g["N"], g["normalize"], g["b"]) == (a, n, norm, b)]
    out += [("theory", x) for x in result["theory"] if (x["a"], x["N"], x["normalize"], x["b"]) == (a, n, norm, b)]
    return out


def draw_exponents(result: dict[str, Any], out_dir: Path) -> list[Path]:
    a_vals, rows = _layout(result)
    band = result["params"]["band"]
    fig, axes = figure(len(a_vals), len(rows), width=3.3, height=2.4)
    for i, row in enumerate(rows):
        for j, a in enumerate(a_vals):
            ax = axes[i, j]
            ax.axhspan(band[0], band[1], color="tab:green", alpha=0.12, lw=0, label=f"band [{band[0]:g}, {band[1]:g}]")
            ax.axhline(1.0, color="0.5", lw=0.6, ls=":")
            for kind, g in _members(result, a, row):
                col, ls, lab = STYLES[kind]
                t, al = arr(g["t"]), arr(g["alpha"])
                bound = " (L∞ = 0: lower bound)" if g.get("bound") and kind != "theory" else ""
                ax.semilogx(t, al, color=col, ls=ls, lw=1.0 if kind == "theory" else 1.3, label=lab + bound)
                r = g.get("range")
                if r:
                    ax.plot([r["t_lo"], r["t_hi"]], [r["value"]] * 2, color=col, lw=4.5, alpha=0.35,
                            solid_capstyle="butt")
            ax.set_ylim(-0.2, 2.2)
            ax.set_title(f"a = {a:g}; {_row_label(row)}", fontsize=8)
            ax.set_xlabel("t = lr × steps")
            if j == 0:
                ax.set_ylabel("−d log(L − L∞) / d log t")
            if i == 0 and j == 0:
                ax.legend(loc="upper left", fontsize=6)
    return save(fig, out_dir, "universality")


def draw_halftimes(result: dict[str, Any], out_dir: Path) -> list[Path]:
    a_vals, rows = _layout(result)
    fig, axes = figure(len(a_vals), len(rows), width=3.3, height=2.3)
    for i, row in enumerate(rows):
        for j, a in enumerate(a_vals):
            ax = axes[i, j]
            for kind, g in _members(result, a, row):
                col, ls, lab = STYLES[kind]
                h = g["halftimes_resolved"] if kind == "theory" else (g.get("halftimes") or {}).get("seed0")
                if not h:
                    continue
                edges, hist = arr(h["hist_edges"]), arr(h["hist"])
                n = max(num(h["n_features"]), 1.0)
                sp = num(h["spread"])
                cens = " ≥" if h.get("censored") else ""
                ax.stairs(hist / n, edges, color=col, ls=ls,
                          label=f"{lab}: spread{cens} {sp:.2f} dec" if math.isfinite(sp) else f"{lab}: n/a")
            ax.set_title(f"a = {a:g}; {_row_label(row)}", fontsize=8)
            ax.set_xlabel("log10 t_half (features resolved in the run)")
            if j == 0:
                ax.set_ylabel("fraction of features")
            ax.legend(loc="upper right", fontsize=5.5)
    return save(fig, out_dir, "universality_halftimes")


def draw_spread(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(1, 1, width=4.2, height=3.2)
    ax = axes[0, 0]
    band = result["params"]["band"]
    ax.axhspan(band[0], band[1], color="tab:green", alpha=0.12, lw=0)
    pts = [(_kind(g), num((g.get("halftimes") or {}).get("spread")), num(g["value"]), g) for g in result["groups"]]
    pts += [("theory", num(x["halftimes_resolved"]["spread"]), num(x["value"]), x) for x in result["theory"]]
    seen = set()
    for kind, s, v, g in pts:
        if not (math.isfinite(s) and math.isfinite(v)):
            continue
        col, _, lab = STYLES[kind]
        mk = {1.1: "o", 1.5: "s", 2.0: "^"}.get(g["a"], "D")
        ax.scatter([s], [v], color=col, marker=mk, s=22, label=lab if kind not in seen else None)
        seen.add(kind)
    sp = result["mechanism"]["spearman_all"]
    rho = f"Spearman ρ = {num(sp['rho']):.2f} (n = {sp['n']})" if math.isfinite(num(sp["rho"])) else "ρ: n/a"
    ax.set_title(f"half-time spread vs exponent; {rho}\nmarkers: a = 1.1 ○, 1.5 □, 2.0 △", fontsize=8)
    ax.set_xlabel("spread of log10 t_half (decades, 10–90 %)")
    ax.set_ylabel("exponent on the longest range")
    if seen:
        ax.legend(fontsize=6)
    return save(fig, out_dir, "universality_spread")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return draw_exponents(result, out_dir) + draw_halftimes(result, out_dir) + draw_spread(result, out_dir)


__all__ = ["draw", "draw_exponents", "draw_halftimes", "draw_spread"]
