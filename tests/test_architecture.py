"""The import-layer contracts of .importlinter hold (config → data → model → train | theory | fit
→ store → experiments | sweep → figures | report → cli; matplotlib, Dask and argparse confined)."""

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
