"""Fig. 7: (a) seed-mean loss curves of each width K against compute C = t·K^p with the
compute-optimal envelope (black: the best loss reached by any width at compute ≤ C, i.e. the running
minimum of min_K L_K(C), which stays flat where a width's run ends — the claims use the pointwise
minimum); (b) iso-compute loss against K at four log-uniform C, the argmin
marked (filled star: interior minimum; open circle: at the smallest/largest width of the sweep;
open square: undetermined, a neighbouring width's curve does not reach that C)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supdyn.figures.common import arr, figure, num, save, viridis_colors

CAPTION = (
    "Fig. 7, superposition students of width K at a = 1.1, b = 0 (quick mode: N = 256, K = 8..64). (a) "
    "Seed-mean loss against compute C = t·K² (one colour per K) and the compute-optimal envelope (black: the "
    "best loss any width has reached by compute C). Look for the envelope passing from small to large widths "
    "as C grows (fig7_kopt_increases_with_compute) and, dashed grey, the least-squares power law of the "
    "pointwise envelope over the C where the optimal width is interior: look for the envelope following "
    "a straight line (fig7_envelope_power_law). Each width's α on the paper's window [1e3, 1e4] "
    "(fig7_alpha_one_all_widths) is in the claims table, not drawn. (b) Iso-compute curves L(K) at four "
    "log-uniform C; filled star: interior "
    "minimum, open circle: minimum at the sweep's edge, open square: undetermined. Look for interior "
    "minima (fig7_iso_compute_interior_minimum). The optimal width's exponent is Fig. 14's "
    "(fig14_kopt_compute_exponent).")


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    fig, axes = figure(2, 1, width=3.9, height=3.2)
    ax, bx = axes[0, 0], axes[0, 1]
    curves = result["curves"]
    colors = viridis_colors([c["K"] for c in curves])
    for c in curves:
        ax.loglog(arr(c["C"]), arr(c["loss_mean"]), color=colors[c["K"]], lw=1.2,
                  label=f"K = {c['K']} (t ≤ {c['t_max']:g})")
    fr = result["frontier"]
    if fr.get("C") is not None and len(fr.get("C", [])):
        best = arr(fr["L_star"])
        best = np.fmin.accumulate(np.where(np.isfinite(best), best, np.inf))
        ax.loglog(arr(fr["C"]), np.where(np.isfinite(best), best, np.nan), color="k", lw=2.2, alpha=0.75,
                  label="envelope: best L at compute ≤ C")
    env = result.get("envelope") or {}
    if len(env.get("C", [])) and np.isfinite(num(env.get("slope"))):
        C = arr(env["C"])
        ax.loglog(C, np.exp(num(env["log_c"]) + num(env["slope"]) * np.log(C)), color="0.45", ls="--", lw=1.4,
                  label=f"power law of the envelope, slope {num(env['slope']):.2f}")
    iso = result["iso"]
    for i, c in enumerate(arr(iso["C"])):
        ax.axvline(c, color="0.5", ls=":", lw=0.9, label="C levels of (b)" if i == 0 else None)
    ax.set_xlabel(f"compute {result['cost']}  (t = lr × steps)")
    ax.set_ylabel("loss L")
    ax.set_title("(a) loss against compute, optimal envelope")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=7)

    K = arr(iso["K"])
    L = arr(iso["loss"])
    for i, c in enumerate(arr(iso["C"])):
        col = f"C{i % 10}"
        row = L[i]
        bx.loglog(K, row, "o-", color=col, ms=3.5, label=f"C = {c:.2g}")
        kmin = iso["argmin_K"][i]
        if kmin is not None and np.isfinite(kmin):
            j = int(np.flatnonzero(K == kmin)[0])
            st = iso["status"][i]
            if st == "interior":
                bx.plot(K[j], row[j], "*", color=col, ms=13, mec="k", mew=0.6)
            else:
                bx.plot(K[j], row[j], "o" if st == "edge" else "s", mfc="none", mec="k", ms=9, mew=1.0)
    bx.plot([], [], "*", color="0.5", mec="k", ms=11, label="interior minimum")
    bx.plot([], [], "o", mfc="none", mec="k", ms=8, label="minimum at the sweep's edge")
    bx.plot([], [], "s", mfc="none", mec="k", ms=8, label="undetermined (neighbour has no data)")
    bx.set_xscale("log", base=2)
    bx.set_xlabel("student width K")
    bx.set_ylabel("loss L at fixed compute")
    bx.set_title("(b) iso-compute curves")
    bx.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    a = curves[0] if curves else {"a": "?", "b": "?", "N": "?"}
    fig.suptitle(f"Compute-optimal frontier, superposition students (a = {a['a']}, b = {a['b']}, "
                 f"N = {a['N']}; {result['mode']} mode)", fontsize=10)
    return save(fig, out_dir, "fig7")
