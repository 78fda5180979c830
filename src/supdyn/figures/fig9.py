"""Fig. 9: B at t = 1e3 without superposition (N × N) and with (K × K), and (c) the learned fraction of
each feature's diagonal entry against the theory and the paper's "~400 learned"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import SymLogNorm

from supdyn.figures.common import arr, figure, num, save

LINTHRESH = 1e-2  # the colour scale is linear for |B_ij| below this fraction of max |B|


def pool(b: np.ndarray, max_pixels: int = 256) -> tuple[np.ndarray, int]:
    """Block-pool a square matrix to at most max_pixels per side, keeping in each block the entry of
    largest magnitude (with its sign), so that one-entry-wide structure such as the diagonal stays
    visible; returns (pooled matrix, block size)."""
    n = b.shape[0]
    k = max(1, int(np.ceil(n / max_pixels)))
    if k == 1:
        return b, 1
    m = n // k
    blocks = b[:m * k, :m * k].reshape(m, k, m, k).transpose(0, 2, 1, 3).reshape(m, m, k * k)
    idx = np.argmax(np.abs(blocks), axis=2)
    return np.take_along_axis(blocks, idx[..., None], axis=2)[..., 0], k


def _matrix(fig: Any, ax: Any, b: np.ndarray, title: str) -> None:
    vmax = float(np.nanmax(np.abs(b))) or 1.0
    n = b.shape[0]
    b, k = pool(b)
    if k > 1:
        title += f"\n({k}×{k} blocks: entry of largest |B_ij| shown)"
    norm = SymLogNorm(linthresh=LINTHRESH * vmax, vmin=-vmax, vmax=vmax, base=10)
    im = ax.imshow(b, cmap="RdBu_r", norm=norm, interpolation="nearest", extent=(0.5, n + 0.5, n + 0.5, 0.5))
    ax.set_title(title)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    ax.grid(False)
    cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    ticks = [-vmax, -0.1 * vmax, 0.0, 0.1 * vmax, vmax]
    cb.set_ticks(ticks)
    cb.set_ticklabels([f"{v:.2g}" for v in ticks])
    cb.set_label(f"B_ij (symmetric log, linear below {LINTHRESH:g}·max|B|)")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    ns, sp = result.get("nosup", {}), result.get("sup", {})
    thr, ts = result["threshold"], result["t_snap"]
    fig, axes = figure(3, 1, width=3.7, height=3.3)
    if "B" in ns:
        _matrix(fig, axes[0, 0], arr(ns["B"]), f"(a) no superposition, N × N = {ns['N']}², t = {ns['t']:g}")
    else:
        axes[0, 0].set_visible(False)
    if "B" in sp:
        _matrix(fig, axes[0, 1], arr(sp["B"]), f"(b) superposition, K × K = {sp['K']}², t = {sp['t']:g}")
    else:
        axes[0, 1].set_visible(False)
    ax = axes[0, 2]
    if "diag_ratio" in sp:
        r = arr(sp["diag_ratio"])
        ax.plot(np.arange(1, r.size + 1), r, ".", color="C3", ms=2, alpha=0.6,
                label=f"superposition (WᵀBW)_ii/A_ii: {num(sp.get('n_learned')):g} ≥ {thr:g}")
    if "diag_ratio" in ns:
        r = arr(ns["diag_ratio"])
        i = np.arange(1, r.size + 1)
        ax.plot(i, r, ".", color="C0", ms=2, label=f"no superposition B_ii/A_ii: {num(ns.get('n_learned')):g} ≥ {thr:g}")
        th = ns.get("theory_diag_ratio")
        if th is not None:
            ax.plot(i, arr(th), color="k", ls="--", lw=1,
                    label=f"theory, normalize={ns.get('normalize')}: {num(ns.get('theory_count')):g}")
        tho = ns.get("theory_diag_ratio_other")
        if tho is not None:
            other = "none" if ns.get("normalize") == "sum" else "sum"
            ax.plot(i, arr(tho), color="0.5", ls=":", lw=1.2,
                    label=f"theory, normalize={other}: {num(ns.get('theory_count_other')):g}")
    pc = result["rules"]["paper_count"]
    ax.axvline(pc, color="C2", lw=1, label=f"paper: ~{pc:g} learned")
    ax.axhline(thr, color="0.3", lw=0.8, ls="-.")
    ax.set_xscale("log")
    ax.set_ylim(-0.25, 1.35)
    ax.set_xlabel("feature index i")
    ax.set_ylabel("learned fraction of the diagonal entry")
    ax.set_title(f"(c) diagonal at t = {ts:g}")
    ax.legend(loc="lower left", fontsize=6.5)
    return save(fig, out_dir, "fig9")
