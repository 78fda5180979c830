#!/usr/bin/env bash
# Every GPU check of the project in one call (at most 8.3 minutes), on a machine with a CUDA GPU and a CUDA
# build of torch. Nothing is installed: the package runs from src/ (PYTHONPATH) with the machine's
# python3, which needs torch, numpy, scipy, pandas, matplotlib, tqdm and pytest (Dask is not needed).
#
#   bash benchmarks/device_check.sh [OUTDIR]        (default ./device-check; PYTHON=... to choose python)
#
# Stages, each with its own time limit (495 s in all); a failing stage does not stop the next ones:
#   env        torch, CUDA and GPU name, nvidia-smi
#   engine     benchmarks/bench_engine.py: one model and 64, 256 packed models, K 256 and 512: step time
#              with CUDA graphs and without, roofline fraction, sampling share, TF32, time to solution
#   sampler    benchmarks/bench_sampler.py: cost per sample of correlated features (co-occurring and
#              exclusive groups) against independent ones on the device sampler, 1, 16 and 256 models
#   tests      the CUDA tests (pytest -m cuda --runslow): gradients against autograd and the sparse step,
#              sampler statistics (also correlated features' exact joint law), SGD against the exact
#              theories (float32 and TF32), no host sync (CUDA's sync detector), graphs = eager, the
#              fitted exponent in float32 and TF32 against a textbook trainer on the same batches
#   reproduce  supdyn reproduce --quick on the GPU (one process, every run of a shape packed), timed;
#              claims.json is copied to OUTDIR
#   full       supdyn reproduce --full --dry-run on the GPU: the estimated wall time of the paper's grid
# Writes OUTDIR/{env,engine,sampler,tests,reproduce,full,summary}.txt and claims.json (8 files); exit status =
# number of failed stages.
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
  tail -n 30 "$out/$name.txt"
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  summary+=("$name: exit $rc in $wall s")
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

stage env 20 "$py" -c "
import platform, subprocess, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)
print('cuda available:', torch.cuda.is_available())
if torch.cuda.is_available():
    print('gpu:', torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory >> 30, 'GiB')
try:
    print(subprocess.run(['nvidia-smi'], capture_output=True, text=True, timeout=15).stdout)
except (OSError, subprocess.TimeoutExpired) as exc:
    print('nvidia-smi:', exc)
raise SystemExit(0 if torch.cuda.is_available() else 1)"
stage engine 100 "$py" benchmarks/bench_engine.py --device cuda --models 1,64,256 --k 256,512 --tf32 --tts \
  --seconds 0.3
stage sampler 30 "$py" benchmarks/bench_sampler.py --device cuda --models 1,16,256 --reps 15
stage tests 170 "$py" -m pytest -q -p no:cacheprovider -m cuda --runslow -s \
  --deselect "tests/test_speed_science.py::test_fast_path_keeps_the_fitted_exponent[cuda]" \
  tests/test_gpu_engine.py tests/test_static_engine.py tests/test_static_sampler.py tests/test_model.py \
  tests/test_data.py tests/test_train.py tests/test_sgd_theory.py tests/test_speed_science.py \
  tests/test_correlated.py
stage reproduce 110 "$py" -m supdyn reproduce --quick --device cuda --no-progress \
  --store "$work/store" --out "$work/reproduction"
[ -f "$work/reproduction/claims.json" ] && cp "$work/reproduction/claims.json" "$out/claims.json"
stage full 65 "$py" -m supdyn reproduce --full --dry-run --device cuda --store "$work/full-store"

echo "== summary"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
exit "$failed"
