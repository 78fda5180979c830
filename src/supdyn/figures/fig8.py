"""Fig. 8: heatmaps of L_i(t)/L_i(0) (feature index i vs t, log colour scale) without and with
superposition, (c) the per-feature half-loss times t_half,i against i and (d) the binned median of
L_i(t_probe)/L_i(0) against i (the wave front).

A feature whose per-feature loss is not measured — sampled evaluation (``exact_eval`` false) in which it
had no active sample, or too few expected ones (``resolved`` false in the result) — is drawn as a
hatched grey row in its heat map, with the count in the panel's legend, and as a grey tick along the
bottom of panel (c); panels (c) and (d) use measured features only (the claims use the features
measured in both runs, ``n_common``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Patch

from supdyn.figures.common import arr, figure, num, save

CAPTION = (
    "Fig. 8, per-feature loss L_i(t)/L_i(0), a = 1.1, b = 0. (a) Without superposition (K = N; white dashed: "
    "the theory's half-loss time) and (b) with superposition (K = 512): log colour scale, feature index i "
    "against t; hatched grey cells are features that never had an active sample in the evaluation set, so "
    "their L_i is not measured (the count is in the legend). Look for a front moving down in i without "
    "superposition and a colour change common to all i with it. (c) The half-loss time t_half,i of each "
    "measured feature (triangles: not reached by t_max) and (d) the binned median of L_i/L_i(0) at "
    "t = 1e3. Claims: fig8_parallel_learning (fraction of features half-learned at t = 1e3) and "
    "fig8_halftime_spread (spread of t_half,i).")


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges (geometric midpoints) for positive, increasing centres x."""
    lx = np.log(x)
    mid = 0.5 * (lx[1:] + lx[:-1])
    return np.exp(np.concatenate([[2 * lx[0] - mid[0]], mid, [2 * lx[-1] - mid[-1]]]))


#: how an unmeasured feature's row is drawn (grey with hatching, distinct from every colour of the map)
UNMEASURED = dict(facecolor="0.8", edgecolor="0.45", hatch="////", lw=0.0)


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [start, stop) of True in a boolean vector (0-based)."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def mark_unmeasured(ax: Any, resolved: np.ndarray, eval_size: Any) -> int:
    """Hatch the rows (feature index i = 1..N on the y axis) of features not measured and add a legend
    entry with their count; returns the count."""
    bad = ~np.asarray(resolved, dtype=bool)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return 0
    for lo, hi in runs_of(bad):  # feature i = k + 1 occupies [i − ½, i + ½]
        ax.axhspan(lo + 0.5, hi + 0.5, zorder=3, **UNMEASURED)
    ax.legend(handles=[Patch(**UNMEASURED, label=f"not measured: {n_bad} of {bad.size} features\n(no active "
                             f"sample in the {eval_size} evaluation samples)")],
              loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=6.5, framealpha=0.9)
    return n_bad


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


def fig8_figure(result: dict[str, Any]) -> Any:
    """Fig. 8 as an open matplotlib figure (see the module docstring)."""
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
            line, = axes[0, 0].plot(th[ok], i[ok], color="w", ls="--", lw=1.2,
                                    label=f"theory: L_i = {half:g} L_i(0)")
            axes[0, 0].add_artist(axes[0, 0].legend(handles=[line], loc="lower right", fontsize=7))
    if "log10_ratio" in sp:
        mesh = _heat(axes[0, 1], sp, f"(b) superposition, K = {sp['K']}", vmin)
    for ax, block in zip(axes[0, :2], (ns, sp)):
        if "log10_ratio" in block:
            mark_unmeasured(ax, np.asarray(block["resolved"], dtype=bool), block.get("eval_size", "?"))
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
    for block, color in ((ns, "C0"), (sp, "C3")):
        if "resolved" in block and not np.all(block["resolved"]):
            bad = np.nonzero(~np.asarray(block["resolved"], dtype=bool))[0] + 1
            ax.plot(bad, np.full(bad.size, 0.02), "|", color=color, alpha=0.5, ms=5,
                    transform=ax.get_xaxis_transform(),
                    label=f"not measured ({'sup.' if block is sp else 'no sup.'}): {bad.size}, not drawn")
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
    ax.set_xlabel(f"feature index i (log bins; {result['n_common']} measured in both runs)")
    ax.set_ylabel(f"median L_i(t)/L_i(0) at t = {tp:g}")
    ax.set_title(f"(d) the front at t = {tp:g}")
    ax.legend(loc="lower right", fontsize=7)
    return fig


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return save(fig8_figure(result), out_dir, "fig8")
