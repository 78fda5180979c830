#!/usr/bin/env bash
# Set up (./.venv) and run the test suite: import-layer contracts, then pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh --runslow` for the slow tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# headless Chromium for the report screenshot test (Debian package); skipped where apt is unavailable
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the report screenshot test will be skipped" >&2
fi
# a one-node SLURM for tests/test_slurm.py (Debian packages; the tests start and stop it themselves, on
# free ports, and are skipped with the reason where it cannot be installed or started)
if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ] && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
  pkgs="slurmctld slurmd slurm-client munge"
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null 2>&1 \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null)) \
    || echo "warning: could not install SLURM; tests/test_slurm.py will be skipped" >&2
fi

exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
