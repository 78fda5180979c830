"""Figure captions and the fixes of Figs. 8, 9a and 11a, on synthetic result dicts (no runs).

Each fix test states the behaviour the old drawing code did not have:
* Fig. 11a drew the exponential law's theory out to t ≈ 1e22 and L ≈ 1e-25;
* Fig. 8 greyed out the features without an active evaluation sample with no count and no legend;
* Fig. 9a used a symmetric-log colour scale that gave an unlearned diagonal entry (B_ii ≈ 0.06 A_ii)
  a colour close to a learned one.
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Patch

from supdyn import figures
from supdyn.figures import fig8, fig9, fig10_11

CLAIMS_MD = Path(__file__).resolve().parents[1] / "docs" / "claims.md"


def documented_ids() -> set[str]:
    """Every claim id written in backticks in docs/claims.md."""
    return set(re.findall(r"`((?:fig\d+|sec\d+|a\d|window)_[A-Za-z0-9_]*[A-Za-z0-9])`", CLAIMS_MD.read_text()))


# ----------------------------------------------------------------------------------------- captions

def test_every_drawer_has_a_caption_naming_a_documented_claim():
    ids = documented_ids()
    assert len(ids) >= 20  # the inventory exists and lists the claims
    assert set(figures.CAPTIONS) == set(figures.DRAWERS)
    for name in figures.DRAWERS:
        text = figures.caption(name)
        assert len(text) >= 100, name
        named = {w for w in re.findall(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+", text) if w in ids}
        assert named, f"{name}: caption names no claim id of docs/claims.md"


def test_caption_ids_are_all_documented():
    """A caption may only name ids that docs/claims.md lists (no stale or invented ids)."""
    ids = documented_ids()
    for name in figures.DRAWERS:
        for word in re.findall(r"\b(?:fig\d+|sec\d+|a\d|window)_[A-Za-z0-9_]*[A-Za-z0-9]", figures.caption(name)):
            assert word in ids, f"{name}: {word} is not in docs/claims.md"


def test_caption_of_unknown_experiment_is_a_one_line_error():
    with pytest.raises(ValueError, match="allowed: .*fig3"):
        figures.caption("fig99")


# ----------------------------------------------------------------------------------------- Fig. 11a

def _fig11_result(t: np.ndarray, loss: np.ndarray, window: list[float]) -> dict:
    item = {"t": t.tolist(), "loss": loss.tolist(), "N": 1024,
            "fit": {"alpha": 1.0, "alpha_se": 1e-9, "c": float(loss[0] * t[0]), "L0": 0.0, "window": window}}
    alg_t = np.logspace(2, 6, 50)
    alg = {"t": alg_t.tolist(), "loss": (1e3 / alg_t ** 2).tolist(), "N": 1024,
           "fit": {"alpha": 2.0, "alpha_se": 1e-4, "c": 1e3, "L0": 0.0, "window": [1e4, 1e5]}}
    return {"kappa": 0.5, "fig11": {"exponential": item, "algebraic": alg}}


def test_fig11a_axes_stop_at_the_drawn_range_and_say_so():
    t = np.logspace(0.8, 23, 160)  # the exponential law's curve: its window reaches t ≈ 1e22
    loss = 0.1 / t
    fig = fig10_11.fig11_figure(_fig11_result(t, loss, [7e2, 6.5e22]))
    try:
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        assert hi <= 1.5 * 1e6  # not 1e23: t ≤ T_DRAWN = 1e6 (times the 1.5 margin)
        assert lo >= t[0] / 1.5 - 1e-12
        y_lo, _ = ax.get_ylim()
        assert y_lo >= 0.1 / 1e6 / 2.0 - 1e-20  # L(1e6) = 1e-7, halved for the margin; not 1e-24
        texts = " ".join(x.get_text() for x in ax.texts)
        assert "6.5e+22" in texts  # the part of the window beyond the axes is stated
        for line in ax.get_lines():  # nothing is drawn beyond the cut
            assert np.max(line.get_xdata()) <= 1e6
    finally:
        plt.close(fig)


def test_fig11_loss_floor_cuts_a_fast_curve():
    t = np.logspace(0, 5, 200)
    loss = 0.1 * t ** -3.0  # reaches LOSS_FLOOR × L(1) = 1e-9 at t = 10^(8/3) ≈ 464
    fig = fig10_11.fig11_figure(_fig11_result(t, loss, [1e1, 1e2]))
    try:
        _, hi = fig.axes[0].get_xlim()
        assert hi <= 1.5 * 10 ** (8 / 3)
        assert hi >= 1.5 * 10 ** (8 / 3) / 1.1  # but the curve is drawn up to the floor
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------- Fig. 8

def _fig8_block(n: int, k: int, resolved: np.ndarray, exact: bool) -> dict:
    t = np.concatenate([[0.0], np.logspace(0, 4, 20)])
    i = np.arange(1, n + 1)
    ratio = np.exp(-np.outer(t, 1.0 / i))
    z = np.log10(np.maximum(ratio, 1e-4))
    z[:, ~resolved] = np.nan
    return {"K": k, "exact_eval": exact, "eval_size": 8192, "t": t.tolist(),
            "log10_ratio": [[None if np.isnan(v) else float(v) for v in row] for row in z],
            "resolved": resolved.tolist(), "t_half": (i * np.log(2)).tolist(),
            "bin_i": [1.0, 10.0, 100.0], "bin_median": [0.1, 0.2, 0.3], "f_half_common": 0.5}


def test_fig8_unmeasured_features_are_hatched_and_counted():
    n = 1024
    res_sup = np.ones(n, dtype=bool)
    res_sup[300::2] = False  # 362 features never active in the evaluation set
    n_bad = int((~res_sup).sum())
    result = {"half": 0.5, "t_probe": 1e3, "n_common": n - n_bad,
              "nosup": _fig8_block(n, n, np.ones(n, dtype=bool), True),
              "sup": _fig8_block(n, 512, res_sup, False)}
    fig = fig8.fig8_figure(result)
    try:
        ax_ns, ax_sp = fig.axes[0], fig.axes[1]
        leg = ax_sp.get_legend()
        assert leg is not None
        labels = [x.get_text() for x in leg.get_texts()]
        assert any(f"{n_bad} of {n}" in lab for lab in labels)
        patches = [h for h in leg.legend_handles if isinstance(h, Patch)]
        assert patches and patches[0].get_hatch()
        # the hatched spans cover exactly the unmeasured rows
        spans = [p for p in ax_sp.patches if p.get_hatch()]
        covered = np.zeros(n, dtype=bool)
        for p in spans:
            y0, y1 = sorted(p.get_path().transformed(p.get_patch_transform()).get_extents().intervaly)
            covered[int(round(y0 + 0.5)) - 1:int(round(y1 + 0.5)) - 1] = True
        np.testing.assert_array_equal(covered, ~res_sup)
        # the panel without unmeasured features has no such entry
        legs = [ax_ns.get_legend()] + [a for a in ax_ns.artists]
        texts = [t.get_text() for lg in legs if lg is not None for t in lg.get_texts()]
        assert not any("not measured" in x for x in texts)
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------- Fig. 9a

def test_fig9a_colour_scale_separates_learned_from_unlearned():
    n = 256
    rng = np.random.default_rng(0)
    b = rng.normal(0.0, 1e-3, (n, n))
    d = np.full(n, 0.06)  # unlearned: 6% of A_ii = 1 (b = 0), as the tail at t = 1e3
    d[:40] = 1.0  # learned
    b[np.diag_indices(n)] = d
    result = {"threshold": 0.5, "t_snap": 1e3, "rules": {"paper_count": 400},
              "nosup": {"B": b.tolist(), "N": n, "t": 1e3, "n_learned": 40, "offdiag_share": 0.01}}
    fig = fig9.fig9_figure(result)
    try:
        ax = fig.axes[0]
        im = ax.get_images()[0]
        norm = im.norm
        zero, unlearned, learned = (float(norm(v)) for v in (0.0, 0.06, 1.0))
        # unlearned sits near "nothing learned", far from learned (old symlog scale: 0.59 of the way)
        assert abs(unlearned - zero) <= 0.1 * abs(learned - zero)
        assert float(norm(0.5)) == pytest.approx(0.5 * (zero + learned), abs=1e-9)  # linear
        cbar_label = im.colorbar.ax.get_ylabel()
        assert "learned" in cbar_label and "linear" in cbar_label
    finally:
        plt.close(fig)


def test_fig11_window_beyond_the_drawn_range_is_stated_not_drawn():
    t = np.logspace(0.8, 23, 160)
    fig = fig10_11.fig11_figure(_fig11_result(t, 0.1 / t, [1e8, 1e20]))
    try:
        ax = fig.axes[0]
        assert ax.get_xlim()[1] <= 1.5e6
        for line in ax.get_lines():
            assert np.max(line.get_xdata()) <= 1e6
        assert not ax.patches  # no shaded band outside the axes
        assert "beyond the drawn range" in " ".join(x.get_text() for x in ax.texts)
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------- Fig. 12b

def _fig12_result(gap_time: float | None) -> dict:
    t = np.logspace(0, 4, 41)
    fixed, learn = 0.2 / (1 + t / 30.0), 0.18 / (1 + t / 30.0)
    fit = {"alpha": 1.0, "lo": 0.95, "hi": 1.05}
    pair = {"K": 128, "fixed": {"t": t.tolist(), "loss_mean": fixed.tolist(), "fit": fit},
            "learnable": {"t": t.tolist(), "loss_mean": learn.tolist(), "fit": fit},
            "rel_delta": ((fixed - learn) / fixed).tolist()}
    if gap_time is not None:
        pair.update(gap_time=gap_time, gap_at_time=0.1)
    return {"fit_window": [1e3, 1e4], "pairs": [pair],
            "rules": {"gap_tol": 0.316, "gap_loss_level": 0.01}}


def test_fig12b_marks_where_the_gap_is_judged():
    from supdyn.figures import fig12

    for gap_time, want in ((600.0, 1), (None, 0)):
        fig = fig12.fig12_figure(_fig12_result(gap_time))
        try:
            axd = fig.axes[1]
            marks = [ln for ln in axd.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata()) == 1]
            assert len(marks) == want
            if want:
                assert marks[0].get_xdata()[0] == 600.0 and marks[0].get_ydata()[0] == 0.1
                assert any("L_fixed = 0.01" in x.get_text() for x in axd.get_legend().get_texts())
        finally:
            plt.close(fig)
