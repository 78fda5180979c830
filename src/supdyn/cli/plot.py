"""``supdyn plot``: loss curves of stored runs (by id or a sweep's grid spec) with their fitted power
laws and, for the linear students, the gradient-flow theory. Computes nothing: run ``supdyn train`` or
``supdyn sweep SPEC`` first."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from supdyn.cli import UsageError, add_limit_arguments, writable_dir
from supdyn.config import load_spec
from supdyn.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot stored loss curves with fitted exponents",
                       description="Plot the loss curves of stored runs against t = lr x steps (log-log). "
                                   "Runs differing only in the seed form one curve (mean, band over seeds); "
                                   "alpha of L = c t^-alpha + L0 is fitted per seed on the window.")
    p.add_argument("runs", nargs="*", metavar="RUN", help="stored run ids (or unique prefixes)")
    p.add_argument("--spec", help="grid spec TOML (as for `supdyn sweep`): plot all its runs")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--out", default="curves.png",
                   help="figure path; written as .png and .pdf (default curves.png)")
    p.add_argument("--window", nargs=2, type=float, default=[1e3, 1e4], metavar=("LO", "HI"),
                   help="fit window in t (default 1e3 1e4)")
    p.add_argument("--no-fit", action="store_true", help="draw the curves only")
    p.add_argument("--no-theory", action="store_true", help="no gradient-flow theory curves")
    p.add_argument("--title", help="figure title")
    p.add_argument("--json", action="store_true", help="print one JSON object (figure paths, fits)")
    p.add_argument("--geometry", action="store_true",
                   help="draw the feature geometry of one run instead (norms, dimensionality, represented "
                        "features against t, Gram matrix; default --out geometry.png)")
    add_limit_arguments(p, steps=False)
    p.set_defaults(func=run)


def _selected(args: argparse.Namespace, store: Store) -> list:
    if not args.runs and not args.spec:
        raise UsageError("RUN: none given; allowed: stored run ids (see `supdyn runs`) and/or --spec SPEC.toml")
    runs = [store.load(r) for r in args.runs]
    if args.spec:
        configs, _ = load_spec(args.spec)
        missing = store.missing(configs)
        if missing:
            raise UsageError(f"--spec: {len(missing)} of {len(configs)} runs of {args.spec} are not in store "
                             f"{store.root}; allowed: a spec whose runs are stored (run `supdyn sweep "
                             f"{args.spec} --store {store.root}` first)")
        runs += [store.load(c) for c in configs]
    return list({r.run_id: r for r in runs}.values())  # each run once, in the order first named


def geometry(args: argparse.Namespace) -> int:
    """``supdyn plot --geometry RUN``."""
    if len(args.runs) != 1 or args.spec:
        raise UsageError(f"RUN: got {len(args.runs)} run(s){' and --spec' if args.spec else ''}; allowed: "
                         "exactly one stored run id with --geometry")
    from supdyn.figures.geometry import draw_geometry  # lazy: matplotlib
    from supdyn.fit.geometry import run_geometries

    run = Store(args.store).load(args.runs[0])
    try:
        geoms = run_geometries(run.config, run.snapshot_t, run.snapshots)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path("geometry.png" if args.out == "curves.png" else args.out)
    cfg = run.config
    paths = draw_geometry(geoms, out, args.title or f"run {run.run_id[:12]}: {cfg.variant}, N = "
                          f"{cfg.data.n_features}, K = {cfg.model.d_hidden}, a = {cfg.data.a:g}")
    if args.json:
        print(json.dumps({"figure": [str(p) for p in paths], "geometry": [g.to_dict() for g in geoms]}))
        return 0
    for g in geoms:
        print(f"{g.which}: represented features " + ", ".join(
            f"t={t:g}: {int(k)}" for t, k in zip(g.t, g.n_represented)) + f"; Σ D_i = {g.dims[-1].sum():.1f}")
    print("figure: " + ", ".join(str(p) for p in paths))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.geometry:
        return geometry(args)
    lo, hi = args.window
    if not (math.isfinite(hi) and 0 < lo < hi):
        raise UsageError(f"--window: got {lo:g} {hi:g}; allowed: 0 < LO < HI (finite)")
    out = Path(args.out)
    if out.suffix.lower() not in ("", ".png", ".pdf"):
        raise UsageError(f"--out: got {args.out!r}; allowed: a path ending in .png or .pdf (both are written)")
    if out.is_dir():
        raise UsageError(f"--out: {args.out} is a directory; allowed: a file path ending in .png or .pdf")
    writable_dir(out.parent, "--out")
    from supdyn.figures.curves import collect, draw_curves, runs_summary  # lazy: matplotlib

    store = Store(args.store)
    runs = _selected(args, store)
    window = None if args.no_fit else (lo, hi)
    curves = collect(runs, window=window, theory=not args.no_theory)
    paths = draw_curves(curves, out, window=window, title=args.title)
    if args.json:
        print(json.dumps({"figure": [str(p) for p in paths], "window": window,
                          "curves": [c.to_dict() for c in curves]}))
        return 0
    for line in runs_summary(curves, window):
        print(line)
    print("figure: " + ", ".join(str(p) for p in paths))
    return 0
