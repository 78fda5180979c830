"""Build docs/universality.md (and its figures) from the universality experiment's result.

    python scripts/universality_page.py --from OUT/results/universality.json [--costs COSTS.txt] [--note TEXT]
    python scripts/universality_page.py            # rebuild from the committed docs/universality/results.json

``--from`` takes the result written by ``supdyn reproduce --only universality --out OUT`` (any mode) and
stores its compact form (curves, exponents, ranges, fits, half-time histograms; no run store) as
docs/universality/results.json; the page and the figures are then drawn from that file alone, so they
can be regenerated without a rerun. ``--costs`` is a file with the cost lines printed by
``supdyn reproduce --full --only universality --dry-run``; ``--note`` a line on how the result was made
(both are kept in the compact JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from supdyn import figures
from supdyn.report.universality import compact, markdown

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DATA = DOCS / "universality" / "results.json"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="source", help="a universality.json written by supdyn reproduce")
    p.add_argument("--costs", help="a text file with the dry run's cost lines")
    p.add_argument("--note", help="how the result was made (command, date, wall time)")
    p.add_argument("--docs", default=str(DOCS), help="docs directory (default: the repository's)")
    args = p.parse_args(argv)
    docs = Path(args.docs)
    data = docs / "universality" / "results.json"
    if args.source:
        result = compact(json.loads(Path(args.source).read_text()))
        old = json.loads(data.read_text()) if data.exists() else {}
        result["page"] = dict(old.get("page", {}))
    elif data.exists():
        result = json.loads(data.read_text())
    else:
        print(f"--from: no result given and {data} does not exist; allowed: --from OUT/results/universality.json",
              file=sys.stderr)
        return 2
    page = result.setdefault("page", {})
    if args.costs:
        page["costs"] = [ln.rstrip() for ln in Path(args.costs).read_text().splitlines() if ln.strip()]
    if args.note:
        page["note"] = args.note
    _write(data, json.dumps(result, indent=0, allow_nan=False))
    files = figures.draw("universality", result, docs / "universality")
    pngs = [f.relative_to(docs).as_posix() for f in files if f.suffix == ".png"]
    _write(docs / "universality.md", markdown(result, pngs, page.get("costs", []), page.get("note", "")))
    print(f"wrote {docs / 'universality.md'}, {data} and {len(files)} figure files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
