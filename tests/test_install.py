"""The GPU install pins what the suite ran: constraints/gpu.txt and constraints/cpu.txt agree on
every package they share, but vLLM's build and its torch."""

import importlib.util
import re

import pytest
from conftest import ROOT

pytestmark = pytest.mark.unit

_spec = importlib.util.spec_from_file_location(
    "gpu_constraints", ROOT / "scripts" / "gpu_constraints.py"
)
gpu_constraints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_constraints)


def test_the_gpu_stack_pins_the_cpu_stacks_versions():
    cpu = gpu_constraints.pins(ROOT / "constraints" / "cpu.txt")
    gpu = gpu_constraints.pins(ROOT / "constraints" / "gpu.txt")
    shared = set(cpu) & set(gpu) - {"torch", "vllm"}
    differ = {n: (cpu[n], gpu[n]) for n in shared if cpu[n] != gpu[n]}
    assert not differ, f"constraints/gpu.txt pins other versions than cpu.txt: {differ}"
    # the training stack is pinned, and the GPU file is what its script writes
    for name in ("trl", "transformers", "deepspeed", "peft", "accelerate", "datasets"):
        assert name in gpu, name
    assert gpu["vllm"] == "0.33.0"
    extra = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'gpu = \["vllm==0\.33\.0"', extra), "pyproject's gpu extra names vllm 0.33.0"


def test_the_documented_gpu_install_uses_the_constraints():
    for doc in ("README.md", "docs/install.md"):
        assert 'pip install -c constraints/gpu.txt -e ".[gpu,dev]"' in (ROOT / doc).read_text(), doc
