"""``supdyn runs``: list the stored runs as a table. A damaged run is moved aside (``_corrupt/``) and
named on stderr, one line each, and the exit code is then 1."""

from __future__ import annotations

import argparse
import sys

from supdyn.store import Store

COLUMNS = ["run_id", "variant", "n_features", "d_hidden", "law", "a", "b", "lr", "batch", "t_max",
           "seed", "final_loss", "diverged", "wall_time"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list stored runs", description="List the runs in a store.")
    p.add_argument("--store", help="run store directory (default $SUPDYN_STORE or ./runs)")
    p.add_argument("--csv", action="store_true", help="print CSV with every column")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = Store(args.store)
    problems: list[str] = []
    df = store.table(problems)
    if df.empty:
        print(f"no runs in {store.root}" + ("" if store.root.is_dir() else " (no such directory)"))
    elif args.csv:
        print(df.to_csv(index=False), end="")
    else:
        df = df[[c for c in COLUMNS if c in df.columns]].copy()
        df["run_id"] = df["run_id"].str[:12]
        print(df.to_string(index=False))
        print(f"{len(df)} run(s) in {store.root}")
    sys.stdout.flush()
    for line in problems:
        print(f"supdyn runs: error: {line}", file=sys.stderr)
    return 1 if problems else 0
