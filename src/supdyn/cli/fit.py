"""``supdyn fit``: fit ``L = c t^-α + L0`` (paper eq. 9) to one loss curve in a window."""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from supdyn.fit import fit_power_law, local_exponent

_RUN_ID = re.compile(r"[0-9a-fA-F]{1,64}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a power law to a loss curve",
                       description="Fit L(t) = c t^-alpha + L0 (paper eq. 9) by least squares in log L "
                                   "on the points with LO <= t <= HI; standard errors from the Jacobian.")
    p.add_argument("source", metavar="SOURCE", help="CSV file with header columns t,loss, or a stored run id (prefix)")
    p.add_argument("--window", nargs=2, type=float, default=[1e3, 1e4], metavar=("LO", "HI"),
                   help="fit window in t (default 1e3 1e4)")
    p.add_argument("--no-offset", dest="offset", action="store_false",
                   help="fit a pure power law (L0 = 0): log-log least-squares slope")
    p.add_argument("--at", nargs="+", type=float, metavar="T",
                   help="times at which to report the local exponent -dlog(L-L0)/dlog t "
                        "(default: window ends and their geometric mean)")
    p.add_argument("--smooth", type=float, default=0.2, metavar="DECADES",
                   help="width in decades of the local-exponent smoothing window (default 0.2)")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``t`` and ``loss`` of a CSV file with a header row (other columns are ignored); t must be
    finite, >= 0 and strictly increasing (ValueError naming the line otherwise)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # (a byte-order mark is not part of 't')
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file (byte {exc.object[exc.start]:#04x} at offset {exc.start} is not "
                         "UTF-8); allowed: a CSV file with columns t,loss") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a CSV file ({exc}); allowed: a CSV file with columns t,loss") from None
    if not rows:
        raise ValueError(f"{path}: empty file; expected a header with columns t,loss")
    header = [c.strip() for c in rows[0]]
    if "t" not in header or "loss" not in header:
        raise ValueError(f"{path}: header {header} lacks the columns 't' and 'loss'")
    it, il = header.index("t"), header.index("loss")
    t, loss = [], []
    for n, r in enumerate(rows[1:], start=2):
        try:
            t.append(float(r[it]))
            loss.append(float(r[il]))
        except (ValueError, IndexError):
            raise ValueError(f"{path} line {n}: expected numbers in columns t and loss, got {r}") from None
        if not (math.isfinite(t[-1]) and t[-1] >= 0) or (len(t) > 1 and not t[-1] > t[-2]):
            raise ValueError(f"{path} line {n}: t = {r[it].strip()}" + (f" after t = {t[-2]:g}" if len(t) > 1 else "")
                             + "; allowed: finite times t >= 0, strictly increasing")
    return np.asarray(t, dtype=float), np.asarray(loss, dtype=float)


def load_curve(source: str, store_root: str | None) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    """(t, loss, description, t at which a stored run diverged or None) from a CSV path or a stored run
    id / unique prefix."""
    path = Path(source)
    if path.is_file():
        t, loss = read_csv(path)
        return t, loss, str(path), None
    if not _RUN_ID.fullmatch(source):
        raise ValueError(f"SOURCE {source!r}: no such file, and not a run id (hex); "
                         "allowed: a CSV file with columns t,loss or a stored run id (prefix)")
    from supdyn.store import Store  # lazy: the CSV path works without the store

    stored = Store(store_root).load(source)
    t, loss = np.asarray(stored.t, dtype=float), np.asarray(stored.loss, dtype=float)
    if loss.ndim == 2:  # (n_models, n_times): fit the mean curve
        loss = loss.mean(axis=0)
    return t, loss, f"run {getattr(stored, 'run_id', source)}", stored.meta.get("diverged_t") if stored.diverged else None


def _local_at(t: np.ndarray, alpha_loc: np.ndarray, at: list[float]) -> list[float]:
    """Local exponent interpolated linearly in log t at ``at`` (NaN outside the defined range)."""
    ok = np.isfinite(alpha_loc) & (t > 0)
    out = []
    if ok.sum() < 1:
        return [math.nan] * len(at)
    o = np.argsort(t[ok])
    lt, al = np.log(t[ok][o]), alpha_loc[ok][o]
    for x in at:
        inside = x > 0 and lt[0] <= math.log(x) <= lt[-1]
        out.append(float(np.interp(math.log(x), lt, al)) if inside else math.nan)
    return out


def run(args: argparse.Namespace) -> int:
    lo, hi = args.window
    if not (math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"--window: got {lo:g} {hi:g}; allowed: 0 < LO < HI (finite)")
    if not (math.isfinite(args.smooth) and args.smooth >= 0):
        raise ValueError(f"--smooth: got {args.smooth:g}; allowed: a width in decades >= 0 (0: nearest neighbours)")
    if args.at is not None:
        at_arr = np.asarray(args.at, dtype=float)
        if not (np.all(np.isfinite(at_arr)) and np.all(at_arr > 0) and np.all(np.diff(at_arr) > 0)):
            raise ValueError(f"--at: got {list(args.at)}; allowed: strictly increasing finite times t > 0")
    t, loss, desc, t_div = load_curve(args.source, args.store)
    window = (float(args.window[0]), float(args.window[1]))
    inside = (t >= window[0]) & (t <= window[1])
    if t_div is not None and not np.all(np.isfinite(loss[inside])):
        raise ValueError(f"{desc}: diverged at t = {t_div:g}, its loss is NaN from there; allowed: a window before "
                         f"t = {t_div:g} (--window), or a run that did not diverge")
    fit = fit_power_law(t, loss, window, offset=args.offset)
    if not math.isfinite(fit.alpha_se):
        flat = np.ptp(np.log(loss[(t >= window[0]) & (t <= window[1])])) < 1e-12
        raise ValueError(f"loss: {'constant' if flat else 'no power law'} on the window [{window[0]:g}, {window[1]:g}] "
                         f"({fit.n_points} points; alpha = {fit.alpha:.3g} with an undefined standard error); "
                         "allowed: a curve that decreases in the window (choose it with --window)")
    at = args.at or [window[0], math.sqrt(window[0] * window[1]), window[1]]
    loc = _local_at(t, local_exponent(t, loss, fit.L0, smooth=args.smooth), at)
    lo, hi = fit.interval("alpha")
    if args.json:
        doc = fit.to_dict()
        doc.pop("residuals")
        doc.update(source=desc, alpha_interval=[lo, hi],
                   local_exponent={"t": [float(x) for x in at], "alpha": [x if math.isfinite(x) else None for x in loc],
                                   "L0": fit.L0, "smooth_decades": args.smooth})
        print(json.dumps(doc))
        return 0
    print(f"{desc}: {fit.n_points} points in window [{window[0]:g}, {window[1]:g}], "
          f"L = c t^-alpha{' + L0' if fit.offset else ''}")
    print(f"  alpha = {fit.alpha:.6g} ± {fit.alpha_se:.2g}  (95% CI [{lo:.6g}, {hi:.6g}])")
    print(f"  c     = {fit.c:.6g} ± {fit.c_se:.2g}")
    if fit.offset:
        print(f"  L0    = {fit.L0:.6g} ± {fit.L0_se:.2g}{'  (at bound L0 = 0)' if fit.L0_at_bound else ''}")
    print("  local exponent -dlog(L-L0)/dlog t: "
          + ", ".join(f"t={x:g}: {a:.4g}" for x, a in zip(at, loc)))
    return 0
