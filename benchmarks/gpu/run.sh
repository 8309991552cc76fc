#!/usr/bin/env bash
# The prepared GPU checks (issues 34 and 36), one run on one H100 or H200 with no network,
# about 7 minutes; each prints the numbers benchmarks/README.md records, and leaves them in
# $OUT (what comes back from the device machine).
#
#   here, once:        bash scripts/gpu_wheels.sh     (.whl/: TRL, DeepSpeed, datasets, ... for Python 3.12)
#   on the device:     bash benchmarks/gpu/run.sh     (carry .whl; timeout 560 s)
#
# 1. plan_vs_measured.py: the plan's simulated training step against the same step measured
#    (a Qwen3-235B-A22B-shaped layer at 4k, 8k, 16k tokens; a DPO-shaped dense step), bf16.
# 2. stack_checks.py: DeepSpeed's CPU Adam builds (the line a zero3_offload job runs); the tiny
#    MoE's SFT then DPO with ZeRO-3 in bf16 through ramen's train stage.
# 3. training_overhead.py: ramen's train stage against plain TRL in bf16 on a Qwen3-0.6B-shaped
#    model, equal work (the same checkpoint schedule).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/ramen-gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAMEN_NO_PROGRESS=1
PY=python3  # the image's, with its CUDA torch
if command -v nvcc >/dev/null; then  # DeepSpeed builds its ops against this toolkit
  export CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}"
fi
# the carried wheels into the image's own environment (the machine is bare each time and
# given back after), then ramen from this checkout, editable: pyproject maps ramen.launch,
# ramen.training ... to top-level folders, which only an installed finder resolves
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade .whl/*.whl || exit 1
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
"$PY" -c "import torch, transformers, trl, deepspeed, ramen; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'deepspeed', deepspeed.__version__)" | tee -a "$OUT/gpu.txt"

status=0
run() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit} s): $*"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v "Loading weights"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || status=1
}
run plan_vs_measured 150 "$PY" benchmarks/gpu/plan_vs_measured.py
run stack_checks 150 "$PY" benchmarks/gpu/stack_checks.py
run training_overhead 180 "$PY" benchmarks/training_overhead.py --shape qwen3-0.6b \
  --dtype bfloat16 --steps 150 --reps 2 --save-steps 75
exit "$status"
