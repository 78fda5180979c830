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

exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
