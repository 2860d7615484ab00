#!/usr/bin/env bash
# Run on the GPU machine, from anywhere, after bench/gpu/prepare.sh on the CPU machine (carry bench/gpu/wheels):
#   installs the wheels with --no-deps, runs the GPU-marked tests, the demo on the GPU and train_vs_stock at 224 px from
#   proxy-pretrained weights (img/s, efficiency against the bare bf16/fp16 step, ratios to the stock recipe).
# Every step has its own time cap and all of them together at most GPU_RUN_LIMIT seconds (default 470: under 8 minutes).
# Where there is no CUDA GPU it stops at once with exit code 3. Results: $OUT (the device tool's) or bench/out/gpu.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
LIMIT=${GPU_RUN_LIMIT:-470}
DEADLINE=$(( $(date +%s) + LIMIT ))
RESULTS=${OUT:-bench/out/gpu}
FAILED=()

step() { # step NAME CAP_SECONDS COMMAND...: run COMMAND for at most CAP seconds (less if the whole run's limit is nearer)
  local name=$1 cap=$2; shift 2
  local left=$(( DEADLINE - $(date +%s) )); (( left < cap )) && cap=$left
  if (( cap < 10 )); then echo "== $name: skipped, the run's ${LIMIT}s are used up"; FAILED+=("$name (no time)"); return; fi
  echo "== $name (at most ${cap}s)"; local t0=$(date +%s)
  timeout --kill-after=10 "$cap" "$@"; local rc=$?
  (( rc == 124 || rc == 137 )) && echo "== $name: stopped after ${cap}s"
  (( rc != 0 )) && FAILED+=("$name (exit $rc)")
  echo "== $name: exit $rc, $(( $(date +%s) - t0 ))s"
}

if ! timeout 60 "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench/gpu/run.sh: no CUDA GPU found ($PY has no torch, or torch.cuda.is_available() is False): run this on the GPU machine" >&2
  exit 3
fi
"$PY" -c 'import torch; print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")'

if ! ls bench/gpu/wheels/*.whl >/dev/null 2>&1; then
  echo "bench/gpu/run.sh: no wheels in bench/gpu/wheels: run bench/gpu/prepare.sh on the CPU machine and carry bench/gpu/wheels" >&2
  exit 4
fi
SITE=/tmp/transferkit-gpu-site
timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" bench/gpu/wheels/*.whl || { echo "bench/gpu/run.sh: installing the wheels failed" >&2; exit 5; }
mkdir -p "$RESULTS"
export PYTHONPATH="$PWD:$SITE" TRANSFERKIT_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
"$PY" -c 'import fastai, transferkit.pipeline as p; print(f"fastai {fastai.__version__}, transferkit from {p.__file__}")' || { echo "bench/gpu/run.sh: transferkit does not import" >&2; exit 5; }

step "GPU tests" 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
step "demo on the GPU" 90 "$PY" -c 'import sys; from transferkit.cli import main; sys.exit(main(["demo", "--out", "/tmp/transferkit-demo"]))'
step "train_vs_stock, 224 px, proxy-pretrained" 330 "$PY" bench/train_vs_stock.py --size 224 --pretrain --pretrain-size 128 \
     --per-class 150 --epochs 3 --repeats 1 --timings 1 --bs 64 --bf16 auto,0 --paired-rounds 2 --out "$RESULTS/train_vs_stock_gpu.json"
# several GPUs (issue 24): `transferkit train --processes 2` (one process a GPU, nccl) against one process on one GPU at the
# same global batch; scaling efficiency = two processes' training img/s / (2 x one process's); goal >= 0.85
if (( $("$PY" -c 'import torch; print(torch.cuda.device_count())') >= 2 )); then
  step "two GPUs against one (distributed_cpu.py on GPUs)" 200 "$PY" bench/distributed_cpu.py --per-class 300 --size 224 \
       --epochs 2 --bs 64 --out "$RESULTS/distributed_gpu"
else echo "== two GPUs against one: skipped, this machine has one GPU"; fi

if (( ${#FAILED[@]} )); then printf 'bench/gpu/run.sh: failed: %s\n' "${FAILED[@]}" >&2; exit 1; fi
echo "bench/gpu/run.sh: all steps passed; results in $RESULTS"
