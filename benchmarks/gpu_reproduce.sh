#!/usr/bin/env bash
# Time the quick and the full reproduction on one CUDA GPU against their --dry-run estimates.
#
#   bash benchmarks/gpu_reproduce.sh OUTDIR [FULL_LIMIT_S]     (FULL_LIMIT_S: stop the full run after it; 330)
#
# Runs from src/ with the machine's python3 (PYTHON=... to choose). Writes OUTDIR/quick.txt, full.txt,
# quick_claims.json, full_claims.json and full_report.tar.gz (report, figures, results).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_reproduce.sh OUTDIR [FULL_LIMIT_S]}
limit=${2:-330}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

timed() {  # timed LABEL LIMIT COMMAND...: print the wall time of the command
  local label=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s.%N)
  timeout "$limit" "$@"
  rc=$?
  echo "$label: exit $rc, wall $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

for mode in quick full; do
  lim=$([ "$mode" = quick ] && echo 150 || echo "$limit")
  {
    timed "$mode dry run" 90 "$py" -m supdyn reproduce --"$mode" --dry-run --device cuda --store "$work/$mode"
    timed "$mode reproduction" "$lim" "$py" -m supdyn reproduce --"$mode" --yes --device cuda --no-progress \
      --store "$work/$mode" --out "$work/$mode-out"
    echo "stored runs: $(find "$work/$mode" -maxdepth 1 -mindepth 1 -type d ! -name '_*' | wc -l)"
  } >"$out/$mode.txt" 2>&1
  tail -n 40 "$out/$mode.txt"
  [ -f "$work/$mode-out/claims.json" ] && cp "$work/$mode-out/claims.json" "$out/${mode}_claims.json"
done
[ -d "$work/full-out" ] && tar -czf "$out/full_report.tar.gz" -C "$work" --exclude='*.pdf' full-out
exit 0
