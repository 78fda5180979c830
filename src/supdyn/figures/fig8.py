"""Fig. 8: heatmaps of L_i(t)/L_i(0) (feature index i vs t, log colour scale) without and with
superposition, (c) the per-feature half-loss times t_half,i against i and (d) the binned median of
L_i(t_probe)/L_i(0) against i (the wave front)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import Normalize

from supdyn.figures.common import arr, figure, num, save


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges (geometric midpoints) for positive, increasing centres x."""
    lx = np.log(x)
    mid = 0.5 * (lx[1:] + lx[:-1])
    return np.exp(np.concatenate([[2 * lx[0] - mid[0]], mid, [2 * lx[-1] - mid[-1]]]))


def _heat(ax: Any, block: dict[str, Any], title: str, vmin: float) -> Any:
    t = arr(block["t"])
    z = arr(block["log10_ratio"])  # (n_times, n_features)
    ok = t > 0
    t, z = t[ok], z[ok]
    n = z.shape[1]
    i_edges = np.arange(n + 1) + 0.5
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="0.75")
    m = ax.pcolormesh(_edges(t), i_edges, np.ma.masked_invalid(z.T), cmap=cmap,
                      norm=Normalize(vmin=vmin, vmax=0.5), shading="flat", rasterized=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t = lr × steps")
    ax.set_ylabel("feature index i")
    ax.set_title(title)
    ax.grid(False)
    return m


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    ns, sp = result.get("nosup", {}), result.get("sup", {})
    half, tp = result["half"], result["t_probe"]
    fig, axes = figure(2, 2, width=3.9, height=3.2)
    axes = axes.reshape(1, 4)
    vmin = -3.0
    mesh = None
    if "log10_ratio" in ns:
        mesh = _heat(axes[0, 0], ns, f"(a) no superposition, K = N = {ns['K']}", vmin)
        th = arr(result.get("theory", {}).get("t_half", []))
        if th.size:
            i = np.arange(1, th.size + 1)
            ok = np.isfinite(th)
            axes[0, 0].plot(th[ok], i[ok], color="w", ls="--", lw=1.2,
                            label=f"theory: L_i = {half:g} L_i(0)")
            axes[0, 0].legend(loc="lower right", fontsize=7)
    if "log10_ratio" in sp:
        mesh = _heat(axes[0, 1], sp, f"(b) superposition, K = {sp['K']}", vmin)
        if not sp.get("exact_eval", True):
            res = np.asarray(sp["resolved"], dtype=bool)
            if (~res).any():
                axes[0, 1].text(0.03, 0.97, f"grey: no active sample in the\n{sp['eval_size']} "
                                "evaluation samples", transform=axes[0, 1].transAxes,
                                fontsize=7, color="k", va="top")
    if mesh is not None:
        cb = fig.colorbar(mesh, ax=axes[0, 1], shrink=0.9, pad=0.02)
        cb.set_label("log10 L_i(t) / L_i(0)")
    for ax in axes[0, :2]:
        ax.axvline(tp, color="c", lw=0.8, ls=":")

    ax = axes[0, 2]
    for block, label, style in ((ns, "no superposition (SGD)", dict(color="C0", s=6)),
                                (sp, f"superposition K = {sp.get('K', '?')}", dict(color="C3", s=6))):
        if "t_half" not in block:
            continue
        th = arr(block["t_half"])
        res = np.asarray(block["resolved"], dtype=bool)
        i = np.arange(1, th.size + 1)
        tmax = np.nanmax(arr(block["t"]))
        fin = np.isfinite(th) & res
        ax.scatter(i[fin], th[fin], label=label, marker="o", **style)
        cens = ~np.isfinite(th) & res
        if cens.any():
            ax.scatter(i[cens], np.full(cens.sum(), tmax), marker="^", alpha=0.4, **style)
    th = arr(result.get("theory", {}).get("t_half", []))
    if th.size:
        ok = np.isfinite(th)
        ax.plot(np.arange(1, th.size + 1)[ok], th[ok], color="k", ls="--", lw=1, label="exact theory (no sup.)")
    ax.plot([], [], "^", color="0.5", label="not reached by t_max")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("feature index i")
    ax.set_ylabel(f"t_half,i: first t with L_i ≤ {half:g} L_i(0)")
    ax.set_title("(c) per-feature half-loss times")
    ax.legend(loc="upper left", fontsize=7)
    f_ns, f_sp = num(ns.get("f_half_common")), num(sp.get("f_half_common"))
    ax.text(0.97, 0.03, f"learned at t = {tp:g}:\nno sup. {f_ns:.2f}, sup. {f_sp:.2f}\n"
            f"({result['n_common']} common features)", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7)

    ax = axes[0, 3]
    for block, label, color in ((ns, "no superposition (SGD)", "C0"), (sp, f"superposition K = {sp.get('K', '?')}", "C3")):
        if "bin_median" in block:
            ax.plot(arr(block["bin_i"]), arr(block["bin_median"]), "o-", color=color, ms=4, label=label)
    th = result.get("theory", {})
    if "bin_median" in th and "bin_i" in ns:
        ax.plot(arr(ns["bin_i"]), arr(th["bin_median"]), "k--", lw=1, label="exact theory, B(0) = 0 (no sup.)")
    ax.axhline(half, color="0.4", lw=0.8, ls="-.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("feature index i (log-spaced bins)")
    ax.set_ylabel(f"median L_i(t)/L_i(0) at t = {tp:g}")
    ax.set_title(f"(d) the front at t = {tp:g}")
    ax.legend(loc="lower right", fontsize=7)
    return save(fig, out_dir, "fig8")
