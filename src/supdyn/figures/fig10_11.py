"""Fig. 10: phase diagram α(a) (asymptotic formulas as lines, fitted discrete-theory exponents as
points); Fig. 11: discrete-theory loss curves (solid) with their power-law fits (dashed) for the
exponential and the linear algebraic frequency laws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, num, save, shade

COLORS = {"power": "C0", "exponential": "0.3", "algebraic": "C3"}
LABELS = {"power": "power p ∝ i^−a: (a−1)/a", "exponential": "exponential p ∝ e^{−κ i^a}: ≈ 1",
          "algebraic": "algebraic p ∝ (N+1−i)^a: 1 + 1/a"}


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
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
    files = save(fig, out_dir, "fig10")

    fig, axes = figure(2, 1, width=3.7, height=3.1)
    titles = {"exponential": "(a) exponential p_i ∝ e^{−%g i}" % result.get("kappa", 0.5),
              "algebraic": "(b) linear algebraic p_i ∝ N + 1 − i"}
    for ax, law in zip(axes[0], ("exponential", "algebraic")):
        item = result["fig11"].get(law)
        if not item or "t" not in item:
            ax.set_visible(False)
            continue
        t, loss = arr(item["t"]), arr(item["loss"])
        f = item["fit"]
        ok = loss > 0
        ax.loglog(t[ok], loss[ok], color=COLORS[law], lw=1.8, label=f"discrete theory, N = {item['N']}")
        w = f.get("window")
        if w and f.get("alpha") is not None and np.isfinite(num(f["alpha"])):
            shade(ax, w)
            tw = np.logspace(np.log10(w[0]), np.log10(w[1]), 50)
            fit = num(f["c"]) * tw ** -num(f["alpha"]) + num(f.get("L0") or 0.0)
            ax.loglog(tw, fit, "k--", lw=1.2,
                      label=f"fit: α = {num(f['alpha']):.4f} ± {1.96 * num(f.get('alpha_se')):.1g}")
        ax.set_xlabel("t = lr × steps")
        ax.set_ylabel("loss L(t)")
        ax.set_title(titles[law])
        ax.legend(loc="lower left", fontsize=7)
    return files + save(fig, out_dir, "fig11")
