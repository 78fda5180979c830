"""Fig. 13: (a) loss curves of each width with the plateau-averaging window drawn thick (solid if
the plateau check passed, dotted if the curve is still falling); (b) plateau loss against K, filled
markers for plateaus, open for curves that did not flatten, with the fit L_∞ = c·K^−β over the
plateaus (solid) and, dashed, slope −1.30 (the paper's β) through the same centre. Also drawn: the
learnable-embedding twins (dashed curves in (a); diamonds with their 95% interval over seeds in (b))
and the exact no-superposition theory at K = N (dash-dotted, (a))."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from supdyn.experiments.common import n_of
from supdyn.figures.common import arr, figure, save, viridis_colors

CAPTION = (
    "Fig. 13, superposition students at a = 1.1, b = 0 (quick mode: N = 256). (a) Loss curves of each width "
    "with the plateau-averaging window (the last part of log t) drawn thick: solid if the curve is flat "
    "there, dotted if still falling. (b) The plateau loss against K (filled: flat, open: still falling) with "
    "the fit L_∞ = c·K^−β over the plateaus (solid) and slope −1.30, the paper's β (dashed). Look for "
    "the filled points on a line of slope near −1.3 (fig13_plateau_width_exponent); the flat tails are the "
    "width-limited regime the paper places late in Fig. 4, while the exact no-superposition theory at K = N "
    "(dash-dotted) keeps falling (fig4_two_regimes). Dashed curves and diamonds (95% interval over seeds): "
    "learnable encoder and decoder started from the same W, same lr and t; look for the diamonds below the "
    "filled points of the same K (fig12_learnable_lower_plateau).")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return save(fig13_figure(result), out_dir, "fig13")


def learnable_and_theory(ax: Any, bx: Any, result: dict[str, Any], colors: dict[Any, Any]) -> None:
    """The learnable twins (dashed curves in (a), diamonds with their 95% interval over seeds in (b)) and
    the exact no-superposition theory at K = N (dotted, (a), drawn down to a tenth of the lowest run)."""
    pairs = result.get("pairs") or []
    for q in pairs:
        ax.loglog(arr(q["t"]), arr(q["loss_mean"]), color=colors.get(q["K"], "C1"), lw=1.0, ls="--")
    if pairs:
        ax.plot([], [], "k--", lw=1.0, label="learnable E, D (same W, lr, t)")
        K, m = arr([q["K"] for q in pairs]), arr([q["learnable_mean"] for q in pairs])
        ci = arr([q["learnable_ci"] for q in pairs]).reshape(-1, 2)
        err = np.where(np.isfinite(ci), np.abs(ci - m[:, None]), 0.0).T
        bx.errorbar(K, m, yerr=err, fmt="D", ms=5, capsize=2, color="C1", label="learnable E, D: plateau")
    ns = result.get("nosup") or {}
    if ns.get("t") is not None:
        floor = 0.1 * min([float(np.nanmin(arr(p["loss_mean"]))) for p in result["points"]] or [0.0])
        t, L = arr(ns["t"]), arr(ns["loss"])
        keep = np.isfinite(L) & (L >= floor)
        ax.loglog(t[keep], L[keep], "k-.", lw=1.0, label=f"K = N = {ns.get('N')}: exact theory (no superposition)")


def fig13_figure(result: dict[str, Any]) -> Any:
    pts = result["points"]
    colors = viridis_colors([p["K"] for p in pts])
    fig, axes = figure(2, 1, width=3.9, height=3.2)
    ax, bx = axes[0, 0], axes[0, 1]
    for p in pts:
        t, L = arr(p["t"]), arr(p["loss_mean"])
        ax.loglog(t, L, color=colors[p["K"]], lw=1.0, label=f"K = {p['K']}")
        w = t >= p["t_lo"]
        ax.loglog(t[w], L[w], color=colors[p["K"]], lw=3.2, ls="-" if p["reached"] else ":")
    ax.plot([], [], "k-", lw=3, label="plateau window (flat)")
    ax.plot([], [], "k:", lw=3, label="window, still falling")
    learnable_and_theory(ax, bx, result, colors)
    ax.set_xlabel("t = lr × steps")
    ax.set_ylabel("loss L")
    ax.set_title(f"(a) loss curves; thick: last {result['final_fraction']:g} of log t")
    lo_y = ax.get_ylim()[0]
    ax.set_ylim(bottom=lo_y / 30)  # room below the curves for the legend
    ax.legend(fontsize=6.5, loc="lower left", ncol=2)

    K = np.array([p["K"] for p in pts], dtype=float)
    Lp = np.array([p["plateau"] for p in pts], dtype=float)
    se = np.array([np.nan if p["plateau_se"] is None else p["plateau_se"] for p in pts], dtype=float)
    se = np.where(np.isfinite(se) & (len(pts) and max(len(p["seeds"]) for p in pts) > 1), se, 0.0)
    reached = np.array([p["reached"] for p in pts], dtype=bool)
    for m, mk, lab in ((reached, "o", "plateau reached"), (~reached, "o", "not flat (upper bound on L_∞)")):
        if m.any():
            yerr = 1.96 * se[m] if np.any(se[m] > 0) else None
            bx.errorbar(K[m], Lp[m], yerr=yerr, fmt=mk, ms=6, capsize=2, color="C0",
                        mfc="C0" if lab.startswith("plateau") else "none", label=lab)
    for fit, col, name in ((result["fit"], "C3", "fit over plateaus"), (result["fit_all"], "0.5", "fit over all K")):
        b, c = fit.get("beta"), fit.get("c")
        if b is not None and c is not None and math.isfinite(b):
            ks = np.geomspace(K.min(), K.max(), 30)
            iv = fit.get("beta_interval", [None, None])
            ivs = f" [{iv[0]:.2f}, {iv[1]:.2f}]" if None not in iv else ""
            bx.loglog(ks, c * ks**-b, color=col, lw=1.5, label=f"{name}: β = {b:.2f}{ivs}")
    if K.size:
        km = math.exp(np.log(K).mean())
        lm = math.exp(np.log(Lp[np.isfinite(Lp)]).mean()) if np.isfinite(Lp).any() else 1.0
        ks = np.geomspace(K.min(), K.max(), 30)
        bx.loglog(ks, lm * (ks / km) ** -result["rules"]["beta_target"], "k--", lw=1.0,
                  label=f"paper slope −{result['rules']['beta_target']:g}")
    bx.set_xscale("log", base=2)
    bx.set_xlabel("student width K")
    bx.set_ylabel("plateau loss L_∞ (mean over window)")
    bx.set_title("(b) plateau loss against width")
    if K.size:
        bx.set_ylim(bottom=bx.get_ylim()[0] / 6)  # room below the points for the legend
        bx.legend(fontsize=6.5, loc="lower left")
    else:
        bx.text(0.5, 0.5, "no width in the analysed range", ha="center", va="center", transform=bx.transAxes)
    fig.suptitle(f"Width-limited loss (a = {pts[0]['a'] if pts else '?'}, b = {pts[0]['b'] if pts else '?'}, "
                 f"N = {n_of(pts)}; "
                 f"{result['mode']} mode)", fontsize=10)
    return fig
