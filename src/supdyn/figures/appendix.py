"""App. A.2, Secs. 2.2 and 5.1: (a) the fixed (ReLU + bias) student's loss against the linear student's
closed form with the same W; (b) the unlearned-tail share of the eq. 7 loss; (c) the relaxation rates
of the linear flow (eigenvalues of C ⊗ P) relative to the isotropic rate ρ_iso of eq. 33."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, save, shade

CAPTION = (
    "Appendix A.2 and Secs. 2.2, 5.1 (theory plus Fig. 5's runs, no new training). (a) Loss of the fixed "
    "ReLU + bias student (solid, SGD, seed 0) and of the linear student y = WᵀBWx with the same W (dashed, "
    "closed form) for each (a, K): look for the linear curves flat at their plateau on the shaded window "
    "(so their fitted α decides nothing, claim a2_alpha_one_needs_relu_bias) and every solid curve below its "
    "dashed one (sec22_relu_suppresses_interference). (b) Share of the no-superposition loss (eq. 7) carried "
    "by the unlearned features, λ_i t < 1, against t: look for it above ½ on the window "
    "(sec51_tail_dominates_loss). (c) Histogram of the linear flow's K² relaxation rates π_k c_l over ρ_iso "
    "= (N/K)² σ̄² (log scale), the band a factor 2 around 1: the paper's isotropic limit puts them all at 1 "
    "(a2_isotropic_rate). The clustered limit, eq. 30, is a table row (a2_clustered_rate).")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(3, 1, width=3.8, height=3.2)
    ax, bx, cx = axes[0]
    fw = result["fit_window"]
    shade(ax, fw)
    seen = [p for p in result["linear"] if p["seed"] == min(q["seed"] for q in result["linear"])]
    for i, p in enumerate(seen):
        t = arr(p["t"])
        ok = t > 0
        lab = f"a={p['a']:g}, K={p['K']}"
        ax.loglog(t[ok], arr(p["loss_fixed"])[ok], color=f"C{i % 10}", label=lab)
        ax.loglog(t[ok], arr(p["loss_linear"])[ok], color=f"C{i % 10}", ls="--")
    ax.plot([], [], color="k", ls="--", label="linear, same W")
    ax.set_xlabel("t = lr × steps")
    ax.set_ylabel("loss L(t)")
    ax.set_title("(a) ReLU + bias (solid) vs linear (dashed)")
    ax.legend(fontsize=7, loc="lower left")
    shade(bx, fw)
    for i, p in enumerate(result["tails"]):
        bx.semilogx(arr(p["t_plot"]), arr(p["share_plot"]), color=f"C{i % 10}", label=f"a={p['a']:g}, b={p['b']:g}")
    bx.axhline(result["rules"]["tail_min"], color="k", lw=0.8, ls=":")
    bx.set_ylim(0, 1.02)
    bx.set_xlabel("t")
    bx.set_ylabel("share of L(t) from λ_i t < 1")
    bx.set_title("(b) unlearned tail, eq. 7")
    bx.legend(fontsize=7, loc="lower left")
    edges = np.linspace(-6.0, 4.0, 41)
    centers = 0.5 * (edges[:-1] + edges[1:])
    for i, p in enumerate(r for r in seen):
        h = arr(p["rate_hist"])
        cx.step(centers, h / max(h.sum(), 1.0), where="mid", color=f"C{i % 10}",
                label=f"a={p['a']:g}, K={p['K']}: {p['rate_fraction']:.2f} in band")
    f = result["rules"]["iso_factor"]
    cx.axvspan(-np.log10(f), np.log10(f), color="0.85", zorder=0)
    cx.set_xlabel("log10(rate / ρ_iso)")
    cx.set_ylabel("fraction of the K² rates")
    cx.set_title("(c) rates of C ⊗ P vs eq. 33")
    cx.legend(fontsize=7, loc="upper left")
    return save(fig, out_dir, "appendix")
