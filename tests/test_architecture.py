"""The import-layer contracts of .importlinter hold (config → data → model → train | theory | fit
→ store → experiments | sweep → figures | report → cli; matplotlib, Dask and argparse confined)."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_modules_are_short():
    long = [(p.relative_to(ROOT), n) for p in (ROOT / "src" / "supdyn").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 410]
    assert not long, f"modules over 410 lines: {long}"


# sibling imports between experiment or figure modules: only where one analyzes another's runs
SIBLING_IMPORTS = {("experiments", "fig13", "fig7"), ("experiments", "fig14", "fig7"),
                   ("experiments", "appendix", "fig5")}
# modules every experiment (figure) may import: the framework, the shared helpers, the verdict rules
SHARED = {"common", "base", "rules", "halftimes"}


def _sibling_imports(pkg: str) -> set[tuple[str, str, str]]:
    folder = ROOT / "src" / "supdyn" / pkg
    mods = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    found = set()
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"supdyn.{pkg}"):
                parts = node.module.split(".")
                names = parts[2:3] if len(parts) > 2 else [a.name for a in node.names]
                found |= {(pkg, path.stem, n) for n in names if n in mods - SHARED}
    return found


def test_experiments_and_figures_share_helpers_through_common_only():
    assert _sibling_imports("experiments") | _sibling_imports("figures") == SIBLING_IMPORTS


def test_every_experiment_and_figure_module_is_registered():
    from supdyn import experiments as ex
    from supdyn import figures

    defined = {p.stem for p in (ROOT / "src" / "supdyn" / "experiments").glob("*.py")
               if "\nEXPERIMENT = " in p.read_text()}
    assert set(ex.NAMES) == defined == set(figures.DRAWERS)
    drawn = {p.stem for p in (ROOT / "src" / "supdyn" / "figures").glob("*.py")} - {
        "__init__", "common", "curves", "readings"}  # helpers of `supdyn plot` and the readings, not experiments
    assert drawn == set(figures.DRAWERS)
