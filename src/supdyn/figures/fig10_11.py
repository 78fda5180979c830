"""Fig. 10: phase diagram α(a) (asymptotic formulas as lines, fitted discrete-theory exponents as
points); Fig. 11: discrete-theory loss curves (solid) with their power-law fits (dashed) for the
exponential and the linear algebraic frequency laws.

Fig. 11's axes are cut to the range a simulation can speak to: t ≤ :data:`T_DRAWN` (the longest run of
our grids reaches t = 3e5, full mode; rounded up to the decade) and L ≥ :data:`LOSS_FLOOR` × L(t_first)
(below that relative loss no float32 run resolves anything). The exponential law's spec window reaches
t ≈ 1e22 and L ≈ 1e-25; the part of the window beyond the cut is stated in the panel, not drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, num, save, shade

COLORS = {"power": "C0", "exponential": "0.3", "algebraic": "C3"}
LABELS = {"power": "power p ∝ i^−a: (a−1)/a", "exponential": "exponential p ∝ e^{−κ i^a}: ≈ 1",
          "algebraic": "algebraic p ∝ (N+1−i)^a: 1 + 1/a"}

#: Fig. 11 draws t up to this (the longest simulated run of our grids is t = 3e5)
T_DRAWN = 1e6
#: ... and losses down to this fraction of the curve's first value (float32 resolution ~1e-7)
LOSS_FLOOR = 1e-8

CAPTION = (
    "Fig. 10: the training exponent α of the no-superposition theory against the decay parameter a of "
    "the feature frequencies, for power (blue), exponential (grey dashed) and algebraic (red) laws: lines "
    "are the asymptotic formulas of eqs. 21–23, open points the exponents fitted to the exact discrete "
    "sum at large N on each law's mid-training window. Look for the points on their lines: the power law "
    "below 1, the exponential at 1, the algebraic above 1 (claim fig10_phase_diagram). The paper also "
    "places the superposition models on the α ≈ 1 line; their exponents are Fig. 5's "
    "(fig5_alpha_universal_a), not drawn here. "
    "Fig. 11: the discrete-sum loss at N = 1024 for p_i ∝ e^{−0.5 i} (a) and p_i ∝ N + 1 − i (b), with "
    "the power-law fit c t^−α + L0 (dashed) on the shaded window and α ± 1.96 SE in the legend "
    "(claims fig11_exponential_alpha, fig11_linear_algebraic_alpha). The axes stop at t = 1e6 or at a "
    "loss 1e-8 times the first one, whichever comes first; where the fit window extends beyond (the "
    "exponential law's reaches t ≈ 1e22), the panel says so. The paper's printed 0.9769 and 1.9834 depend "
    "on the window, which it does not state: the row fig11_printed_values counts the windows that give them.")


def fig10_figure(result: dict[str, Any]) -> Any:
    """The phase diagram (Fig. 10) as an open matplotlib figure."""
    fig, axes = figure(1, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    lines = result["lines"]
    a = arr(lines["a"])
    for law in ("power", "exponential", "algebraic"):
        y = arr(lines[law])
        ax.plot(a, y, color=COLORS[law], ls="--" if law == "exponential" else "-", lw=1.4, label=LABELS[law])
    for law in ("power", "exponential", "algebraic"):
        pts = [p for p in result["points"] if p["law"] == law]
        if not pts:
            continue
        x = np.array([p["a"] for p in pts], dtype=float)
        y = np.array([num(p["fit"].get("alpha")) for p in pts])
        se = np.array([num(p["fit"].get("alpha_se")) for p in pts])
        n = pts[0]["N"]
        ax.errorbar(x, y, yerr=1.96 * np.nan_to_num(se), fmt="o", mfc="w", color=COLORS[law], ms=6,
                    capsize=2, label=f"{law}: fitted, discrete theory N = 2^{int(round(np.log2(n)))}")
    ax.set_xlabel("decay parameter a")
    ax.set_ylabel("training exponent α")
    ax.set_ylim(0, 3.3)
    ax.set_xlim(0.3, 4.5)
    ax.set_title("Fig. 10: phase diagram (b = 0)")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def drawn_range(t: np.ndarray, loss: np.ndarray, t_max: float = T_DRAWN,
                floor: float = LOSS_FLOOR) -> tuple[float, float, float, float]:
    """(t_lo, t_hi, L_lo, L_hi) of the drawn part of a decreasing loss curve: t up to t_max and up to
    the first t where L < floor × L(t_first); the loss limits are the curve's extremes on that range."""
    ok = (t > 0) & (loss > 0) & np.isfinite(loss)
    t, loss = t[ok], loss[ok]
    keep = (t <= t_max) & (loss >= floor * loss[0])
    if keep.sum() < 2:
        keep[:2] = True
    last = int(np.nonzero(keep)[0].max())
    keep[: last + 1] = True
    t, loss = t[keep], loss[keep]
    return float(t[0]), float(t[-1]), float(loss.min()), float(loss.max())


def fig11_figure(result: dict[str, Any]) -> Any:
    """Fig. 11 (two panels) as an open matplotlib figure, axes cut as the module docstring says."""
    fig, axes = figure(2, 1, width=3.7, height=3.1)
    titles = {"exponential": "(a) exponential p_i ∝ e^{−%g i}" % result.get("kappa", 0.5),
              "algebraic": "(b) linear algebraic p_i ∝ N + 1 − i"}
    for ax, law in zip(axes[0], ("exponential", "algebraic")):
        item = result["fig11"].get(law)
        if not item or "t" not in item:
            ax.set_visible(False)
            continue
        t, loss = arr(item["t"]), arr(item["loss"])
        t_lo, t_hi, l_lo, l_hi = drawn_range(t, loss)
        f = item["fit"]
        ok = (loss > 0) & (t <= t_hi)
        ax.loglog(t[ok], loss[ok], color=COLORS[law], lw=1.8, label=f"discrete theory, N = {item['N']}")
        w = f.get("window")
        if w and f.get("alpha") is not None and np.isfinite(num(f["alpha"])):
            w_lo, w_hi = num(w[0]), num(w[1])
            label = f"fit window [{w_lo:.2g}, {w_hi:.2g}]"
            if w_lo < t_hi:  # the drawn part of the window and of the fit
                shade(ax, [w_lo, min(w_hi, t_hi)], label=label)
                tw = np.logspace(np.log10(w_lo), np.log10(min(w_hi, t_hi)), 50)
                fit = num(f["c"]) * tw ** -num(f["alpha"]) + num(f.get("L0") or 0.0)
                ax.loglog(tw, fit, "k--", lw=1.2,
                          label=f"fit: α = {num(f['alpha']):.4f} ± {1.96 * num(f.get('alpha_se')):.1g}")
            if w_hi > t_hi:
                cut = f"drawn: t ≤ {T_DRAWN:.0e}, L ≥ {LOSS_FLOOR:.0e}·L(t₀)"
                rest = (f"(fit window continues\nto t = {w_hi:.2g})" if w_lo < t_hi else
                        f"(the {label}, α = {num(f['alpha']):.4f},\nlies beyond the drawn range)")
                ax.text(0.97, 0.97, f"{cut}\n{rest}", transform=ax.transAxes, ha="right", va="top", fontsize=6.5)
        ax.set_xlim(t_lo / 1.5, t_hi * 1.5)
        ax.set_ylim(l_lo / 2.0, l_hi * 2.0)
        ax.set_xlabel("t = lr × steps")
        ax.set_ylabel("loss L(t)")
        ax.set_title(titles[law])
        ax.legend(loc="lower left", fontsize=7)
    return fig


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return save(fig10_figure(result), out_dir, "fig10") + save(fig11_figure(result), out_dir, "fig11")
