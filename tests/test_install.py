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


def test_the_prepared_gpu_check_carries_the_pinned_stack_and_runs_what_exists():
    """Every script benchmarks/gpu/run.sh (the one device call) runs exists, and the wheels
    scripts/gpu_wheels.sh carries there are the versions the suite ran (cpu.txt pins). Its
    syntax: tests/test_plan.py, beside the CPU run of its first script."""
    run = ROOT / "benchmarks" / "gpu" / "run.sh"
    scripts = re.findall(r"(benchmarks/[\w/]+\.py)", run.read_text())
    assert len(scripts) == 3 and all((ROOT / s).is_file() for s in scripts), scripts
    wheels = (ROOT / "scripts" / "gpu_wheels.sh").read_text()
    names = re.search(r"PACKAGES=\(\n(.*?)\n\)", wheels, re.S).group(1).split()
    cpu = gpu_constraints.pins(ROOT / "constraints" / "cpu.txt")
    normal = {n.lower().replace("_", "-"): v for n, v in cpu.items()}
    missing = [n for n in names if n.lower().replace("_", "-") not in normal]
    assert not missing, f"gpu_wheels.sh carries packages cpu.txt does not pin: {missing}"
    for name in ("trl", "deepspeed", "datasets", "transformers", "pydantic", "math-verify"):
        assert name in names, name
