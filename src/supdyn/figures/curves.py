"""Loss curves of stored runs against t (lr × steps, or Σ lr_k with a schedule), with their fitted power laws and, where a closed
form exists, the gradient-flow theory: the figure of ``supdyn plot``.

Runs whose configs differ only in the seed form one curve: the line is the mean loss over seeds, the
band spans the lowest to the highest seed, and the exponent is fitted on every seed separately,

    L(t) = c t^-α + L0   on   LO <= t <= HI      (the mid-training form of paper eq. 9),

reported as the mean over seeds ± their standard deviation (one seed: ± the fit's standard error).
Theory, from B(0) = 0: the exact no-superposition loss ½ Tr(A² Σ e^{−2Σt}) (variant ``none``, paper
Sec. 3.1 with the mean term of Σ) and the linear-superposition solution for the run's own W (variant
``linear``, paper App. A.2); ReLU students have none. Diverged runs are left out of the fits and drawn
up to their divergence.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from supdyn.config import RunConfig, field_names
from supdyn.data import frequencies, teacher_diagonal
from supdyn.figures.common import figure, save
from supdyn.fit import PowerLawFit, fit_power_law
from supdyn.model import run_embedding
from supdyn.store import StoredRun
from supdyn.theory.exact import ExactTheory
from supdyn.theory.linear_superposition import LinearSuperpositionTheory

SHORT = {"n_features": "N", "d_hidden": "K"}  # label names of the paper


def _over_seeds(fn, loss: np.ndarray) -> np.ndarray:
    """``fn`` (nanmean, nanmin, nanmax) over the seed axis; all-NaN columns (every seed diverged) give
    NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(loss, axis=0)


@dataclass
class Curve:
    """One plotted curve: the runs of one config over their seeds (loss: (n_seeds, n_times))."""

    label: str
    config: RunConfig  # of the first seed
    run_ids: list[str]
    t: np.ndarray  # (n_times,)
    loss: np.ndarray  # (n_seeds, n_times), NaN after a divergence
    fits: list[PowerLawFit] = field(default_factory=list)  # one per seed that could be fitted
    fit_errors: list[str] = field(default_factory=list)  # why the other seeds could not
    theory: np.ndarray | None = None  # (n_times,) gradient-flow loss, or None

    @property
    def n_seeds(self) -> int:
        return self.loss.shape[0]

    def alpha(self) -> tuple[float, float] | None:
        """(α, uncertainty): mean and standard deviation over seeds, or one fit and its standard error."""
        a = np.array([f.alpha for f in self.fits])
        if a.size == 0:
            return None
        if a.size == 1:
            return float(a[0]), float(self.fits[0].alpha_se)
        return float(a.mean()), float(a.std(ddof=1))

    def to_dict(self) -> dict:
        al = self.alpha()
        return {"label": self.label, "run_ids": self.run_ids, "n_seeds": self.n_seeds,
                "alpha": None if al is None else al[0], "alpha_uncertainty": None if al is None else al[1],
                "fits": [f.to_dict() for f in self.fits], "fit_errors": self.fit_errors,
                "has_theory": self.theory is not None}


def _value(cfg: RunConfig, name: str) -> object:
    """A field by its flat name; ``variant`` resolved (``auto`` → ``none`` or ``fixed``)."""
    if name == "variant":
        return cfg.variant
    return getattr(getattr(cfg, field_names()[name]), name)


def varying_fields(configs: Sequence[RunConfig]) -> list[str]:
    """Flat field names (``a``, ``d_hidden``, ...; not ``seed``) whose values differ among ``configs``."""
    return [n for n in field_names() if len({repr(_value(c, n)) for c in configs}) > 1]


def label(cfg: RunConfig, names: Sequence[str]) -> str:
    """``a=1.1, K=256``: the given fields (all of variant, K, a, b when none are given)."""
    names = list(names) or ["variant", "d_hidden", "a", "b"]
    parts = []
    for n in names:
        v = _value(cfg, n)
        v = f"{v:g}" if isinstance(v, float) else ("…" if isinstance(v, tuple) and len(v) > 4 else v)
        parts.append(f"{SHORT.get(n, n)}={v}")
    return ", ".join(parts)


def theory_curve(cfg: RunConfig, t: np.ndarray) -> np.ndarray | None:
    """Gradient-flow loss at ``t`` from B(0) = 0 (variants ``none`` and ``linear``), else None. It holds
    for SGD at any schedule (t is the integrated rate), with values v ~ U(0, 1), the ½-summed loss and
    no weight decay; other runs have none."""
    tr = cfg.train
    if tr.optimizer != "sgd" or tr.weight_decay_B or cfg.data.value_max != 1 or tr.loss_reduction != "half_sum":
        return None
    if cfg.variant == "none":
        return ExactTheory.from_config(cfg.data).loss(t)
    if cfg.variant == "linear":
        return LinearSuperpositionTheory(run_embedding(cfg).double().numpy(), frequencies(cfg.data),
                                         teacher_diagonal(cfg.data)).loss(t)
    return None


def collect(runs: Sequence[StoredRun], *, window: tuple[float, float] | None = (1e3, 1e4),
            theory: bool = True) -> list[Curve]:
    """Group ``runs`` by config without the seed (in the order given) and fit each seed on ``window``
    (no fit when ``window`` is None)."""
    groups: dict[str, list[StoredRun]] = {}
    for r in runs:
        groups.setdefault(r.config.replace(seed=0).run_id, []).append(r)
    names = varying_fields([g[0].config for g in groups.values()])
    curves = []
    for members in groups.values():
        cfg, t = members[0].config, np.asarray(members[0].t, dtype=float)
        if any(m.t.shape != t.shape or not np.array_equal(m.t, t) for m in members):
            raise ValueError(f"runs {members[0].run_id[:12]}…: seeds of one config have different times; "
                             "allowed: runs of one config that differ only in the seed")
        loss = np.stack([np.asarray(m.loss, dtype=float).reshape(-1, t.size).mean(axis=0) for m in members])
        c = Curve(label(cfg, names), cfg, [m.run_id for m in members], t, loss)  # loss: (n_seeds, n_times)
        if window is not None:
            for m, row in zip(members, loss):
                if m.diverged:
                    c.fit_errors.append(f"{m.run_id[:12]}: diverged")
                    continue
                try:
                    c.fits.append(fit_power_law(t, row, window))
                except ValueError as exc:
                    c.fit_errors.append(f"{m.run_id[:12]}: {exc}")
        if theory:  # only the linear student's theory depends on the seed (through its W)
            per_seed = [theory_curve(m.config, t) for m in (members if cfg.variant == "linear" else members[:1])]
            c.theory = None if per_seed[0] is None else np.mean(per_seed, axis=0)
        curves.append(c)
    return curves


def draw_curves(curves: Sequence[Curve], out: str | Path, *, window: tuple[float, float] | None = (1e3, 1e4),
                title: str | None = None) -> list[Path]:
    """Log-log loss against t for every curve (band over seeds, dashed fit on the window, dotted theory);
    writes ``out`` as PNG and PDF (the suffix of ``out`` is replaced)."""
    out = Path(out)
    fig, axes = figure(width=5.0, height=3.6)
    ax = axes[0, 0]
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for c, color in zip(curves, colors):
        keep = c.t > 0
        mean = _over_seeds(np.nanmean, c.loss)
        al = c.alpha()
        text = c.label + (f" ({c.n_seeds} seeds)" if c.n_seeds > 1 else "")
        if al is not None:
            text += f": α = {al[0]:.3f} ± {al[1]:.3f}"
        ax.plot(c.t[keep], mean[keep], color=color, label=text)
        if c.n_seeds > 1:
            ax.fill_between(c.t[keep], _over_seeds(np.nanmin, c.loss)[keep], _over_seeds(np.nanmax, c.loss)[keep],
                            color=color, alpha=0.2, linewidth=0)
        lo, hi = (max(window[0], c.t[keep].min()), min(window[1], c.t.max())) if window else (0, 0)
        if c.fits and lo < hi:
            tw = np.geomspace(lo, hi, 50)  # the window where the curve has data
            ax.plot(tw, np.mean([f.predict(tw) for f in c.fits], axis=0), color="k", linestyle="--",
                    linewidth=0.9)
        if c.theory is not None:
            ax.plot(c.t[keep], c.theory[keep], color=color, linestyle=":", linewidth=1.2)
    if window is not None and any(c.fits for c in curves):
        ax.axvspan(*window, color="0.85", alpha=0.4, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t = lr × steps")
    ax.set_ylabel("loss L")
    styles = ["mean over seeds, band: min–max"] if any(c.n_seeds > 1 for c in curves) else []
    if any(c.fits for c in curves) and window is not None:
        styles.append(f"dashed: fit c·t^−α + L0 on [{window[0]:g}, {window[1]:g}] (shaded)")
    if any(c.theory is not None for c in curves):
        styles.append("dotted: gradient-flow theory")
    ax.set_title("\n".join([title] if title else []) + ("\n" if title and styles else "") + "; ".join(styles),
                 fontsize=8)
    ax.legend(loc="lower left", fontsize=7)
    return save(fig, out.parent, out.stem)


def runs_summary(curves: Sequence[Curve], window: tuple[float, float] | None) -> list[str]:
    """One line per curve: label, seeds, α ± uncertainty on the window (or why there is none)."""
    lines = []
    for c in curves:
        al = c.alpha()
        if window is None:
            fit = "no fit"
        elif al is None:
            fit = "no fit: " + "; ".join(c.fit_errors)
        else:
            how = "sd over seeds" if len(c.fits) > 1 else "standard error"
            fit = f"alpha = {al[0]:.4f} ± {al[1]:.4f} ({how}; {len(c.fits)} fitted) on [{window[0]:g}, {window[1]:g}]"
        final = _over_seeds(np.nanmean, c.loss)[-1]
        lines.append(f"{c.label}: {c.n_seeds} seed(s), final L = {final:.4g} at t = {c.t[-1]:g}; {fit}")
    return lines

