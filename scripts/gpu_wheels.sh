#!/usr/bin/env bash
# The wheels the prepared GPU check (benchmarks/gpu/run.sh) carries to a lent GPU machine,
# which has torch, transformers, accelerate and peft but no TRL, DeepSpeed or datasets, and no
# network: the versions constraints/cpu.txt pins (what the suite ran), for that machine's
# Python 3.12 on x86-64. Writes .whl/ (ignored by git; about 25 MB).
#
#   bash scripts/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# ramen's runtime imports the image lacks or has at other versions, and what they need
PACKAGES=(
  trl deepspeed datasets transformers tokenizers huggingface_hub accelerate peft
  pydantic pydantic_core annotated-types typing-inspection
  math-verify latex2sympy2_extended antlr4-python3-runtime datasketch
  httpx2 httpcore2 truststore click hf-xet dill multiprocess hjson xxhash
)
pin() {
  local line
  line=$(grep -i -m1 "^$1==" constraints/cpu.txt) || { echo "gpu_wheels: $1 is not pinned in constraints/cpu.txt" >&2; exit 1; }
  echo "$line"
}
rm -rf .whl && mkdir .whl
binary=()
for p in "${PACKAGES[@]}"; do
  [ "$p" = deepspeed ] || binary+=("$(pin "$p")")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${binary[@]}" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# DeepSpeed is published as source only: built here into a pure-Python wheel (its C++/CUDA ops
# compile at first use on the GPU machine, which the check times); its build imports torch,
# hence no build isolation
DS_BUILD_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl "$(pin deepspeed)"
ls .whl
du -sh .whl
