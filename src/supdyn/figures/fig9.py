"""Fig. 9: B at t = 1e3 without superposition (N × N) and with (K × K), and (c) the learned fraction of
each feature's diagonal entry against the theory and the paper's "~400 learned".

Both matrices are drawn on a linear symmetric colour scale: (a) in units of the teacher's largest entry
A_11 = 1, with the learned level θ·A_11 (θ = ``threshold``) marked on the colour bar, so that learned
diagonal entries (B_ii ≥ θ A_ii) are dark and unlearned ones pale, and an inset shows the upper-left
corner entry by entry; (b) in units of max |B_ij|, with the
off-diagonal share ‖B − diag B‖_F / ‖B‖_F in the title (per entry the diagonal dominates, in total the
off-diagonal entries do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import Normalize

from supdyn.figures.common import arr, figure, num, save

CAPTION = (
    "Fig. 9, the student matrix B at t = 1e3, a = 1.1, b = 0. (a) Without superposition (N × N) and (b) with "
    "superposition (K × K), drawn in blocks that keep each block's largest |B_ij|. The colour scale is "
    "linear in B_ij/max|A| (A_ii = i^−b), so a diagonal entry that has reached the learned threshold "
    "(B_ii ≥ 0.5·A_ii, marked on the colour bar) is dark and a still-unlearned one stays near white. Look "
    "for a diagonal that stops part-way without superposition (fig9_learned_count, "
    "sec31_nosup_B_diagonal) and weight spread over the whole matrix with it (fig9_superposition_B_dense). "
    "(c) The learned fraction of each diagonal entry against i (SGD dots, exact theory dashed; for "
    "superposition the effective (WᵀBW)_ii); the vertical line is the paper's ~400 (fig9_learned_count, "
    "fig9_count_matches_theory, fig9_superposition_parallel). Without superposition, the paper's \"the rest "
    "remaining at initialization values\" means tail dots of (c) below the threshold within ±3·init_scale of 0 "
    "(fig9_unlearned_stay_at_init).")

#: colour scale: linear, symmetric, in units of max A_ii = A_11 = 1 (panel a) or of max |B| (panel b). A
#: symmetric-log scale painted the whole diagonal of (a) as learned: unlearned tail entries B_ii ≈ 0.03–0.1
#: sat two decades above its linear band, a colour close to the learned entries'.
CMAP = "RdBu_r"
#: panel (a) insets its upper-left ZOOM × ZOOM corner unpooled (where the learned entries sit)
ZOOM = 128


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


def matrix_panel(fig: Any, ax: Any, b: np.ndarray, title: str, *, vmax: float, threshold: float | None,
                 unit: str) -> Any:
    """Draw B (block-pooled, see :func:`pool`) on a linear colour scale [−vmax, vmax] with a labelled
    colour bar; ``threshold`` (a value of B) is marked on the bar as the learned level. Returns the image."""
    n = b.shape[0]
    b, k = pool(b)
    if k > 1:
        title += f"\n({k}×{k} blocks: entry of largest |B_ij| shown)"
    im = ax.imshow(b, cmap=CMAP, norm=Normalize(vmin=-vmax, vmax=vmax), interpolation="nearest",
                   extent=(0.5, n + 0.5, n + 0.5, 0.5))
    ax.set_title(title)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    ax.grid(False)
    cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    ticks = [-vmax, -0.5 * vmax, 0.0, 0.5 * vmax, vmax]
    cb.set_ticks(ticks)
    cb.set_ticklabels([f"{v:.2g}" for v in ticks])
    label = f"B_ij (linear; {unit})"
    if threshold is not None:
        cb.ax.axhline(threshold, color="k", lw=1.5)
        label += f"\nline: learned level B_ii = {threshold:g}·A_11"
    cb.set_label(label, fontsize=8)
    return im


def fig9_figure(result: dict[str, Any]) -> Any:
    """Fig. 9 as an open matplotlib figure (see the module docstring)."""
    ns, sp = result.get("nosup", {}), result.get("sup", {})
    thr, ts = result["threshold"], result["t_snap"]
    fig, axes = figure(3, 1, width=3.7, height=3.3)
    if "B" in ns:
        b = arr(ns["B"])
        vmax = max(1.0, float(np.nanmax(np.abs(b))))  # A_11 = 1^−b = 1 is the teacher's largest entry
        n_l, share = num(ns.get("n_learned")), num(ns.get("offdiag_share"))
        matrix_panel(fig, axes[0, 0], b,
                     f"(a) no superposition, N × N = {ns['N']}², t = {ns['t']:g}\n"
                     f"{n_l:g} of {ns['N']} with B_ii ≥ {thr:g}·A_ii; off-diag. share {share:.2f}",
                     vmax=vmax, threshold=thr, unit=f"±{vmax:.2g} = teacher's max A_11")
        corner = min(ZOOM, b.shape[0])
        ins = axes[0, 0].inset_axes([0.56, 0.5, 0.41, 0.41])
        ins.imshow(b[:corner, :corner], cmap=CMAP, norm=Normalize(vmin=-vmax, vmax=vmax), interpolation="nearest",
                   extent=(0.5, corner + 0.5, corner + 0.5, 0.5))
        ins.set_title(f"i, j ≤ {corner}, every entry", fontsize=6.5, pad=2)
        ins.tick_params(labelsize=6, length=2)
        ins.grid(False)
    else:
        axes[0, 0].set_visible(False)
    if "B" in sp:
        b = arr(sp["B"])
        vmax = float(np.nanmax(np.abs(b))) or 1.0
        share = num(sp.get("offdiag_share"))
        matrix_panel(fig, axes[0, 1], b,
                     f"(b) superposition, K × K = {sp['K']}², t = {sp['t']:g}\n"
                     f"off-diag. share of ‖B‖_F: {share:.2f}",
                     vmax=vmax, threshold=None, unit=f"±{vmax:.2g} = max |B_ij|")
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
    return fig


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    return save(fig9_figure(result), out_dir, "fig9")
