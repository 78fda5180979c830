#!/usr/bin/env bash
# Every GPU check of the project in one call, on a machine with a CUDA GPU and a CUDA build of torch.
# Nothing is installed: the package runs from src/ (PYTHONPATH) with the machine's python3, which
# needs torch, numpy, scipy, pandas, matplotlib, tqdm and pytest (Dask is not needed).
#
#   bash benchmarks/device_check.sh [OUTDIR]        (default ./device-check; PYTHON=... to choose python)
#
# Stages, each with its own time limit (480 s in all); a failing stage does not stop the next ones:
#   env        torch, CUDA and GPU name, nvidia-smi
#   tests      the CUDA variants of the device-parametrized tests (pytest -m cuda --runslow): gradients
#              against autograd, sampler statistics, SGD against the exact theory, the pipeline against
#              the naive trainer, and the fast path's fitted exponent against the naive trainer (slow)
#   bench      benchmarks/bench_train.py --device cuda --models 1,4,16 --tts
#   reproduce  supdyn reproduce --quick on the GPU in one process (--executor local), timed;
#              claims.json is copied to OUTDIR
# Writes OUTDIR/<stage>.txt (and claims.json); prints a summary; exit status = number of failed stages.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-device-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
summary=()

stage() {  # stage NAME LIMIT_S COMMAND...: output to OUTDIR/NAME.txt, tail on the terminal
  local name=$1 limit=$2 rc t0 t1
  shift 2
  echo "== $name (limit ${limit} s): $*"
  t0=$(date +%s.%N)
  timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  tail -n 25 "$out/$name.txt"
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  summary+=("$name: exit $rc in $wall s")
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

stage env 30 "$py" -c "
import platform, subprocess, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)
print('cuda available:', torch.cuda.is_available())
if torch.cuda.is_available():
    print('gpu:', torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory >> 30, 'GiB')
try:
    print(subprocess.run(['nvidia-smi'], capture_output=True, text=True, timeout=20).stdout)
except (OSError, subprocess.TimeoutExpired) as exc:
    print('nvidia-smi:', exc)
raise SystemExit(0 if torch.cuda.is_available() else 1)"
stage tests 150 "$py" -m pytest -q -p no:cacheprovider -m cuda --runslow -s \
  tests/test_model.py tests/test_data.py tests/test_train.py tests/test_sgd_theory.py tests/test_speed_science.py
stage bench 120 "$py" benchmarks/bench_train.py --device cuda --models 1,4,16 --tts
stage reproduce 180 "$py" -m supdyn reproduce --quick --executor local --device cuda --no-progress \
  --store "$work/store" --out "$work/reproduction"
[ -f "$work/reproduction/claims.json" ] && cp "$work/reproduction/claims.json" "$out/claims.json"

echo "== summary"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
exit "$failed"
