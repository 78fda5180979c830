#!/usr/bin/env bash
# Set up (./.venv) and run the main job: the quick reproduction of the paper's claims.
# Extra arguments go to `supdyn reproduce` (e.g. --full, --only fig3,fig5, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/supdyn reproduce "$@"
