"""Feature geometry figures (see :mod:`supdyn.fit.geometry`).

:func:`draw_geometry`: one run (``supdyn plot --geometry RUN``): norms, dimensionality, the count of
represented features against t, and the Gram matrix.

:func:`draw`: the ``geometry`` experiment (our checks): learned embeddings against a, weight decay and
correlation. One column per correlation (independent, co-activation, exclusive): (top) the number of
represented features (‖E_i‖ ≥ 0.5, log scale; dotted: K) against t = lr × steps, one colour per a, solid without weight decay and
dashed with it (band: lowest to highest seed); (middle) the distribution of D_i of the represented features
at the last snapshot (seeds pooled). Bottom row: α of c t^−α + L0 on the fit window, the mean D_i of the
represented features and the number represented at the end, against a, one colour per correlation, filled
markers without weight decay and open ones with it (bars: 95 % interval over seeds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from supdyn.figures.common import arr, figure, num, save, viridis_colors
from supdyn.fit.geometry import REPRESENTED_NORM, Geometry

CAPTION = (
    "Feature geometry of learned embeddings at K = 128 (our checks, no verdict row; only with --only geometry): "
    "the number of features whose embedding norm stays ≥ 0.5 against t, per a, with and without weight decay and "
    "per correlation; the dimensionality D_i of the represented features; α, mean D_i and the count at the end "
    "against a. Look for how far weight decay removes features from superposition (D_i rising towards 1) and "
    "whether α stays near 1 while it does (fig12_learnable_alpha_one, fig5_alpha_universal_a, beyond the paper's "
    "settings).")

GRAM_FEATURES = 128
"""The Gram panel shows the most frequent features (the first ones) only, so that entries stay visible."""


def draw_geometry(geoms: list[Geometry], out: Path, title: str = "") -> list[Path]:
    """Four panels per embedding (rows: W, or E and D): ‖E_i‖ against i at every snapshot time, D_i at the
    last time, the number of represented features against t, and EᵀE of the first features."""
    fig, axes = figure(4, len(geoms), width=3.2, height=2.8)
    for row, g in zip(axes, geoms):
        n = g.norms.shape[1]
        idx = np.arange(1, n + 1)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(g.t)))
        for k, (tk, c) in enumerate(zip(g.t, colors)):
            row[0].plot(idx, g.norms[k], color=c, lw=0.9, label=f"t = {tk:g}" if k in (0, len(g.t) - 1) else None)
        row[0].axhline(REPRESENTED_NORM, color="0.4", ls=":", lw=0.8, label="represented")
        row[0].set(xscale="log", xlabel="feature i (by frequency)", ylabel=f"‖{g.which}_i‖",
                   title=f"{g.which}: feature norms")
        row[0].legend(loc="best")
        row[1].plot(idx, g.dims[-1], ".", ms=2, color="C1")
        row[1].set(xscale="log", ylim=(-0.05, 1.05), xlabel="feature i", ylabel="D_i",
                   title=f"dimensionality at t = {g.t[-1]:g} (Σ D = {g.dims[-1].sum():.1f})")
        tt = np.where(g.t > 0, g.t, np.nan)
        row[2].plot(tt, g.n_represented, "o-", ms=3)
        row[2].set(xscale="log", ylim=(0, 1.05 * n), xlabel="t = lr × steps",
                   ylabel=f"# features with ‖{g.which}_i‖ ≥ {REPRESENTED_NORM}", title=f"represented features (of {n})")
        m = min(GRAM_FEATURES, n)
        lim = float(np.max(np.abs(g.gram[:m, :m]))) or 1.0
        im = row[3].imshow(g.gram[:m, :m], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        row[3].set(title=f"{g.which}ᵀ{g.which}, first {m} features", xlabel="j", ylabel="i")
        row[3].grid(False)
        fig.colorbar(im, ax=row[3], shrink=0.8)
    if title:
        fig.suptitle(title)
    out = Path(out)
    return save(fig, out.parent, out.stem)


ORDER = ("none", "cooccur", "exclusive")


def _errorbar(ax: Any, x: float, entry: dict[str, Any], color: str, filled: bool, label: str | None) -> None:
    m = num(entry.get("mean"))
    lo, hi = num(entry.get("lo")), num(entry.get("hi"))
    yerr = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[max(m - lo, 0.0)], [max(hi - m, 0.0)]]
    ax.errorbar([x], [m], yerr=yerr, fmt="o", color=color, mfc=color if filled else "white", capsize=2, label=label)


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    rows = [r for r in result["rows"] if "n_rep_t" in r]
    corrs = [c for c in ORDER if any(r["correlation"] == c for r in rows)] or ["none"]
    ncol = max(len(corrs), 3)
    fig, axes = figure(ncol, 3, width=3.6, height=2.9)
    a_colors = viridis_colors([r["a"] for r in rows])
    bins = arr(result.get("d_bins"))
    labels = {r["correlation"]: r["corr_label"] for r in rows}
    for j, corr in enumerate(corrs):
        ax, axh = axes[0, j], axes[1, j]
        for r in sorted((r for r in rows if r["correlation"] == corr), key=lambda r: (r["weight_decay"], r["a"])):
            t = arr(r["snapshot_t"])
            ls = "-" if r["weight_decay"] == 0 else "--"
            lab = f"a = {r['a']:g}" + (f", wd {r['weight_decay']:g}" if r["weight_decay"] else "")
            col = a_colors[r["a"]]
            ax.semilogx(t, arr(r["n_rep_t"]), ls=ls, marker="o", ms=3, color=col, label=lab)
            ax.fill_between(t, arr(r["n_rep_t_min"]), arr(r["n_rep_t_max"]), color=col, alpha=0.15, lw=0)
            hist = arr(r["d_hist"])
            if hist.sum() > 0 and bins.size == hist.size + 1:
                axh.stairs(hist / hist.sum(), bins, color=col, ls=ls, label=lab)
        n, k = (rows[0]["N"], rows[0]["K"]) if rows else (0, 0)
        if k:
            ax.axhline(k, color="0.4", ls=":", lw=0.8, label=f"K = {k}")
        ax.set(title=f"{labels.get(corr, corr)}", xlabel="t = lr × steps", yscale="log",
               ylabel=f"represented features (of N = {n})", ylim=(1, 1.5 * n if n else None))
        ax.legend(loc="best", fontsize=7)
        axh.set(title=f"D_i of represented features, t = {arr(rows[0]['snapshot_t'])[-1]:g}" if rows else "D_i",
                xlabel="dimensionality D_i", ylabel="fraction of represented features", xlim=(0, 1.0))
        axh.axvline(num(result.get("own_direction")), color="0.4", ls=":", lw=0.8)
        axh.legend(loc="best", fontsize=7)
    for j in range(len(corrs), ncol):
        axes[0, j].set_visible(False)
        axes[1, j].set_visible(False)
    c_colors = {c: f"C{i}" for i, c in enumerate(ORDER)}
    w = result.get("window", [float("nan")] * 2)
    panels = [(axes[2, 0], "fit", f"α on t ∈ [{num(w[0]):g}, {num(w[1]):g}]"),
              (axes[2, 1], "d_mean", "mean D_i of represented features"),
              (axes[2, 2], "n_rep_end", "represented features at the end")]
    offsets = {c: 0.03 * (i - 1) for i, c in enumerate(ORDER)}
    seen: set[str] = set()
    for r in rows:
        col, filled = c_colors[r["correlation"]], r["weight_decay"] == 0
        key = f"{labels[r['correlation']]}" + ("" if filled else f", wd {r['weight_decay']:g}")
        x = r["a"] + offsets[r["correlation"]] + (0.0 if filled else 0.012)
        for ax, metric, _ in panels:
            entry = r["fit"] if metric == "fit" else r[metric]
            if metric == "fit":
                entry = {"mean": entry.get("alpha"), "lo": entry.get("lo"), "hi": entry.get("hi")}
            _errorbar(ax, x, entry, col, filled, key if (ax is panels[0][0] and key not in seen) else None)
        seen.add(key)
    for ax, _, title in panels:
        ax.set(title=title, xlabel="a")
    panels[0][0].axhline(1.0, color="k", lw=0.8, ls=":")
    panels[0][0].set_ylabel("α")
    panels[1][0].set_ylabel("mean D_i")
    panels[2][0].set(ylabel="# features with ‖E_i‖ ≥ 0.5", yscale="log")
    if rows:
        panels[2][0].axhline(rows[0]["K"], color="0.4", ls=":", lw=0.8)
    panels[0][0].legend(loc="best", fontsize=6.5)
    for j in range(3, ncol):
        axes[2, j].set_visible(False)
    return save(fig, out_dir, "geometry")
