"""``supdyn reproduce``: run what is missing, draw every figure, write claims.json and report.html."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from supdyn import __version__
from supdyn import experiments as ex
from supdyn import figures
from supdyn.cli import writable_dir
from supdyn.cli.costs import _duration, device_costs, estimate_seconds, model_steps
from supdyn.config import ConfigError, RunConfig
from supdyn.report import write_report
from supdyn.store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="reproduce the paper's figures and claims",
                       description="Run every experiment (computing only runs missing from the store), "
                                   "draw the figures and write claims.json and report.html.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="reduced grid, under 15 minutes on 2 cores (default; the experiments "
                        f"{', '.join(ex.ON_REQUEST)} only with --only)")
    g.add_argument("--full", dest="mode", action="store_const", const="full", help="the paper's grid")
    g.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                   help="tiny version of every experiment (N = 64), seconds; checks the pipeline")
    p.set_defaults(mode="quick")
    p.add_argument("--only", help="comma-separated experiment names (default: all but "
                                   f"{', '.join(ex.ON_REQUEST)} in quick and full mode)")
    p.add_argument("--out", default="reproduction", help="output directory (default ./reproduction)")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--readings", action="store_true",
                   help="evaluate every claim under each reading of the paper's unstated choices")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--stored-only", action="store_true",
                   help="train nothing: analyze the runs already in the store (an interim look at a long grid); "
                        "an experiment with runs missing is analyzed only if its analysis accepts a partial grid "
                        "(universality), and its result says how many of its runs it had")
    p.add_argument("--yes", action="store_true", help="do not ask before a --full run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from supdyn.cli import add_limit_arguments
    from supdyn.cli.sweep import add_executor_arguments

    add_executor_arguments(p)
    add_limit_arguments(p)
    p.set_defaults(func=run)


def selected(only: str | None, mode: str = "quick") -> list[str]:
    """The experiments named by ``--only``; by default every one (smoke), or all but those run on request
    (:data:`supdyn.experiments.ON_REQUEST`) in quick and full mode."""
    if not only:
        return [n for n in ex.NAMES if mode == "smoke" or n not in ex.ON_REQUEST]
    names = [n.strip() for n in only.split(",") if n.strip()]
    for n in names:
        ex.get(n)
    return names


def reading_mode(mode: str, reading: ex.Reading) -> str:
    """Non-default readings of a quick run use the reduced ``readings`` grids."""
    return "readings" if mode == "quick" and reading is not ex.STATED else mode


def plan(names: list[str], mode: str, readings: list[ex.Reading]) -> list[RunConfig]:
    seen: dict[str, RunConfig] = {}
    for r in readings:
        for n in names:
            for c in ex.get(n).configs(reading_mode(mode, r), r):
                seen.setdefault(c.run_id, c)
    return list(seen.values())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o))


def _clean(o: Any) -> Any:
    """Replace non-finite floats by None so the JSON is standard."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def run(args: argparse.Namespace) -> int:
    from supdyn.sweep import run_sweep

    t_start = time.perf_counter()
    mode = args.mode
    names = selected(args.only, mode)
    readings = list(ex.READINGS) if args.readings else [ex.STATED]
    configs = plan(names, mode, readings)
    if not args.dry_run:
        writable_dir(Path(args.out) / "results", "--out")  # before training, not after
    store = Store(args.store)
    missing = store.missing(configs)
    skip: dict[tuple[str, str], set[str]] = {}  # (experiment, reading) -> run ids not stored
    if args.stored_only:  # nothing to train, nothing to estimate
        names, skip = _stored_only(names, mode, readings, store)
        if not names:
            print("supdyn reproduce: error: --stored-only: no selected experiment can be analyzed from the runs "
                  "stored; allowed: a store holding every run of an experiment, or some runs of one whose analysis "
                  "accepts a partial grid (universality)", file=sys.stderr)
            return 2
        absent = {c.run_id for c in missing}
        configs, missing = [c for c in plan(names, mode, readings) if c.run_id not in absent], []
    if missing and not args.dry_run:
        store.ensure_writable()  # one line before the plan's, not after it
    print(f"supdyn reproduce --{mode}: {len(names)} experiment(s), {len(readings)} reading(s), "
          f"{len(configs)} run(s){' stored' if args.stored_only else ''}, {len(missing)} to compute, "
          f"{model_steps(missing):,} model-steps", file=sys.stderr)
    kw, fallback = _executor_kwargs(args, mode, len(missing), quiet=args.dry_run)
    probes: dict[str, Any] = {}
    if (mode == "full" or args.dry_run) and not args.stored_only:
        seconds, how = estimate_seconds(missing, kw, len(names), probes)
        print(f"estimated wall time: {_duration(seconds)} ({how}; training and analysis)", file=sys.stderr)
    if args.dry_run:
        if missing and not kw["device"].startswith("cuda") and not (kw.get("scheduler") or kw.get("slurm")):
            for line in device_costs(missing, kw, args, len(names), probes):
                print(line, file=sys.stderr)
        return 0
    if mode == "full" and missing and not args.yes and sys.stdin.isatty():
        if input("continue? [y/N] ").strip().lower() not in ("y", "yes"):
            return 1
    report = sweep_with_fallback(run_sweep, missing, store, kw, fallback, progress=not args.no_progress)
    if report.failed:
        for rid, err in report.failed:
            print(f"run {rid[:12]} failed: {err}", file=sys.stderr)
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    all_claims: list[dict[str, Any]] = []
    reading_claims: list[dict[str, Any]] = []
    fig_files: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    diverged: dict[str, Any] = {}
    for reading in readings:
        for name in names:
            exp = ex.get(name)
            rmode = reading_mode(mode, reading)
            planned = exp.configs(rmode, reading)
            absent = skip.get((name, reading.name), set())
            runs = [store.load(c) for c in planned if c.run_id not in absent]
            for r in runs:
                if r.diverged and r.run_id not in diverged:
                    diverged[r.run_id] = r
                    print(f"warning: run {r.run_id[:12]} ({name}) diverged at t = {r.meta.get('diverged_t')}; "
                          "it is left out of every fit", file=sys.stderr)
            runs = [r.masked() if r.diverged else r for r in runs]  # NaN curves: no fit can use them
            result = exp.analyze(runs, rmode, reading)
            if absent:  # an interim look: the result says how much of its grid it had
                result["interim"] = {"stored": len(runs), "planned": len(planned)}
            result = _clean(json.loads(json.dumps(result, default=_json_default)))
            results.setdefault(name, {})[reading.name] = result
            suffix = "" if reading is ex.STATED else f"__{reading.name}"
            _write_atomic(out / "results" / f"{name}{suffix}.json", json.dumps(result))
            rows = [dict(c.to_dict(), reading=reading.name, experiment=name) for c in exp.claims(result)]
            (all_claims if reading is ex.STATED else reading_claims).extend(rows)
            if reading is ex.STATED:
                titles[name] = exp.title
                files = figures.draw(name, result, out / "figures")
                fig_files[name] = [str(Path(f).relative_to(out)) for f in files]
    extra = [diverged_section(diverged.values())] if diverged else []
    if "optimizers" in results:  # our checks: a section of their own, not rows of the claims table
        from supdyn.report.optimizers import section

        extra.append(section(results["optimizers"][ex.STATED.name]))
    if "universality" in results:  # our pre-registered test: its decision in a section of its own
        from supdyn.report.universality import section as universality_section

        extra.append(universality_section(results["universality"][ex.STATED.name]))
    if "geometry" in results:  # likewise our checks
        from supdyn.report.geometry import section as geometry_section

        extra.append(geometry_section(results["geometry"][ex.STATED.name]))
    if args.readings:
        from supdyn.report.readings import readings_section

        try:
            files, error = figures.draw_readings(results, readings, out / "figures"), ""
        except Exception as exc:  # noqa: BLE001 - the section's tables must survive a failed drawing
            files, error = [], str(exc)
        extra.append(readings_section(out, results, all_claims + reading_claims, readings,
                                      figure_files=files, figure_error=error))
        all_claims_doc = all_claims + reading_claims
    else:
        all_claims_doc = all_claims
    versions = {"supdyn": __version__, "python": platform.python_version(), **_versions()}
    settings = {m: ex.settings(m) for m in (mode,)}
    caption = getattr(figures, "caption", lambda n: "")
    captions = {name: caption(name) for name in fig_files}
    page = write_report(out, claims=all_claims_doc, figures=fig_files, titles=titles, settings=settings,
                        versions=versions, mode=mode, wall_time=time.perf_counter() - t_start,
                        extra_sections=extra, captions=captions)
    _print_claims(all_claims)
    print(f"report: {page}  claims: {out / 'claims.json'}  ({time.perf_counter() - t_start:.0f} s)",
          file=sys.stderr)
    return 1 if report.failed else 0


def _stored_only(names: list[str], mode: str, readings: list[ex.Reading], store: Store
                 ) -> tuple[list[str], dict[tuple[str, str], set[str]]]:
    """For ``--stored-only``: the experiments that can be analyzed from the stored runs alone, and per
    (experiment, reading) the run ids not stored. One line on stderr per experiment left out or analyzed
    from part of its grid."""
    keep, skip = [], {}
    for name in names:
        exp = ex.get(name)
        absent = {(r.name, c.run_id) for r in readings for c in store.missing(exp.configs(reading_mode(mode, r), r))}
        n_all = sum(len(exp.configs(reading_mode(mode, r), r)) for r in readings)
        if absent and (not exp.partial_ok or len(absent) == n_all):
            why = "none stored" if len(absent) == n_all else "its analysis needs every run"
            print(f"--stored-only: {name} left out: {n_all - len(absent)} of {n_all} runs stored ({why})",
                  file=sys.stderr)
            continue
        if absent:
            print(f"--stored-only: {name} analyzed from {n_all - len(absent)} of {n_all} runs (an interim look; "
                  "the result says so)", file=sys.stderr)
            for rname, rid in absent:
                skip.setdefault((name, rname), set()).add(rid)
        keep.append(name)
    return keep, skip


def diverged_section(runs: Any) -> tuple[str, str]:
    """Report section listing diverged runs (left out of every fit)."""
    import html

    rows = "".join(
        f"<tr><td>{r.run_id[:12]}</td><td>{r.config.variant}</td><td>{r.config.model.d_hidden}</td>"
        f"<td>{r.config.data.a:g}</td><td>{r.config.data.b:g}</td><td>{r.config.train.lr:g}</td>"
        f"<td>{html.escape(str(r.meta.get('diverged_t')))}</td></tr>" for r in runs)
    body = ("<p>These runs diverged (non-finite loss or loss above 1e3 × its initial value); the analyses "
            "see their whole curves as NaN, so they are left out of every fit (a point whose runs all "
            "diverged has no fitted value). The largest stable learning "
            "rate scales like 1/λ_max of the input second moment (× K/N with superposition).</p>"
            "<table class='claims'><tr><th>run</th><th>variant</th><th>K</th><th>a</th><th>b</th>"
            f"<th>lr</th><th>diverged at t</th></tr>{rows}</table>")
    return "Diverged runs", body


AUTO_MAX_MODELS = 4
"""Runs per task on the automatic LocalCluster: small packs keep both workers busy to the end."""


def _executor_kwargs(args: argparse.Namespace, mode: str, n_missing: int, *, quiet: bool = False
                     ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(run_sweep's executor options, the options to fall back to if they fail, or None).

    Without --executor/--scheduler/--slurm, a quick or full reproduction with at least 2 runs to
    compute on a machine with at least 2 cores uses a Dask LocalCluster of ``--workers``
    single-threaded processes (default 2; measured 1.5x faster than one 2-thread process for the quick
    grid), with at most ``AUTO_MAX_MODELS`` runs per task unless --max-models is given; the options as
    parsed (this process) are then the fallback. Smoke mode, CUDA (one process owns the GPU and packs
    every run of a shape together) and everything else stay as parsed."""
    from supdyn.cli.sweep import executor_from_args

    kw = executor_from_args(args)
    explicit = args.executor is not None or args.scheduler or args.slurm
    if explicit or mode == "smoke" or n_missing < 2 or (os.cpu_count() or 1) < 2 or kw["device"] != "cpu":
        return kw, None
    auto = {**kw, "executor": "dask"}
    if args.max_models is None:
        auto["max_models"] = AUTO_MAX_MODELS
    if not quiet:
        print(f"executor: Dask LocalCluster, {auto['workers']} single-threaded workers, at most "
              f"{auto['max_models']} runs per task (--executor local: one process)", file=sys.stderr)
    return auto, kw


def sweep_with_fallback(run_sweep: Any, missing: list[Any], store: Store, kw: dict[str, Any],
                        fallback: dict[str, Any] | None, *, progress: bool) -> Any:
    """``run_sweep(missing, store, **kw)``; if the automatic LocalCluster fails to run (run_sweep raises
    only for such infrastructure errors: failed runs are reported, not raised), warn and compute what
    is still missing with the ``fallback`` options. Without a fallback (an executor the user asked
    for) the error propagates."""
    try:
        return run_sweep(missing, store, progress=progress, **kw)
    except Exception as exc:
        if fallback is None:
            raise
        print(f"warning: the Dask LocalCluster failed ({type(exc).__name__}: {exc}); computing the missing "
              "runs in this process instead", file=sys.stderr)
        return run_sweep(store.missing(missing), store, progress=progress, **fallback)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "numpy", "scipy", "matplotlib", "pandas", "dask"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _print_claims(claims: list[dict[str, Any]]) -> None:
    """The tally, then the paper's claims and our checks as two plain tables (stdout)."""
    if not claims:
        return
    from supdyn.report import split_rows, tally_text

    w = max(len(c["id"]) for c in claims)
    print(tally_text(claims))
    for title, rows in zip(("paper claims", "our checks"), split_rows(claims)):
        if not rows:
            continue
        print(f"\n{title}:")
        print(f"{'id':<{w}}  {'paper':>14}  {'measured':>10}  {'interval':>20}  verdict")
        for c in rows:
            iv = c.get("interval")
            iv_s = f"[{iv[0]:.3g}, {iv[1]:.3g}]" if iv else "—"
            m = c.get("measured")
            m_s = f"{m:.4g}" if m is not None else "—"
            print(f"{c['id']:<{w}}  {c['paper_value']:>14}  {m_s:>10}  {iv_s:>20}  {c['verdict']}")


__all__ = ["add_parser", "run", "ConfigError"]
