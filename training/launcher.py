"""From a recipe's training step to an `accelerate launch` command: the accelerate config
(machines, processes, DeepSpeed plugin) and the DeepSpeed JSON, both generated from the recipe.

The DeepSpeed presets live in recipes/deepspeed/ and use "auto" wherever the Trainer already
decides from `training.args`, so the recipe is the single source of truth.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ramen.console import console, quiet
from ramen.io import write_text_atomic
from ramen.training.config import TrainingStep

PRESETS_DIR = Path(__file__).resolve().parent.parent / "recipes" / "deepspeed"


def preset_path(name: str) -> Path:
    return PRESETS_DIR / f"{name}.json"


@dataclass(frozen=True)
class Topology:
    """Where the processes run: machines x processes each, this machine's rank, the head."""

    machines: int = 1
    machine_rank: int = 0
    main_ip: str = "127.0.0.1"
    # the head's rendezvous port; on one machine ramen picks a free one (see topology()), so
    # two trainings on one box never collide on torchrun's default 29500
    main_port: int = 29500
    gpu: bool = False


def accelerate_config(step: TrainingStep, topo: Topology) -> dict[str, Any]:
    """The accelerate config file for one training step, as a dict."""
    processes = step.processes * topo.machines
    if step.deepspeed:
        distributed = "DEEPSPEED"
    elif processes > 1:
        distributed = "MULTI_GPU" if topo.gpu else "MULTI_CPU"
    else:
        distributed = "NO"
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": distributed,
        "num_machines": topo.machines,
        "num_processes": processes,
        "machine_rank": topo.machine_rank,
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": not topo.gpu,
        "downcast_bf16": "no",
    }
    if topo.machines > 1:
        cfg["main_process_ip"] = topo.main_ip
    if processes > 1:
        cfg["main_process_port"] = topo.main_port
    if step.deepspeed:
        cfg["deepspeed_config"] = {
            "deepspeed_config_file": str(preset_path(step.deepspeed)),
            "zero3_init_flag": step.deepspeed.startswith("zero3"),
            # torchrun on every node; the default `pdsh` launcher would ssh to the others
            "deepspeed_multinode_launcher": "standard",
        }
    else:
        cfg["mixed_precision"] = "no"  # the Trainer's bf16/fp16 arguments decide
    return cfg


def write_accelerate_config(path: Path, step: TrainingStep, topo: Topology) -> Path:

    write_text_atomic(path, yaml.safe_dump(accelerate_config(step, topo), sort_keys=True))
    return path


def launch_command(config_file: Path, spec_file: Path, method: str | None = None) -> list[str]:
    """`accelerate launch --config_file CFG -m ramen.training.run SPEC [METHOD]` with this Python.
    With METHOD the training processes import its trainer before they read the spec, so the
    train stage can start them while it still renders the rows (see LoggedProcess)."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "-m",
        "ramen.training.run",
        str(spec_file),
        *([method] if method else []),
    ]


class LoggedProcess:
    """`cmd` started now, its output appended to `log_path` as it comes (a reader thread) and
    echoed to stdout from the moment `show()` is called (what came before is echoed then).

    The train stage starts `accelerate launch` before it renders the training rows: the
    training processes spend their first seconds importing torch, transformers and TRL, which
    then overlaps with the stage's own rendering instead of following it.
    """

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: Path, tail: int = 30):
        import subprocess
        import threading
        from collections import deque

        self.last: deque[str] = deque(maxlen=tail)
        self._held: list[str] | None = []  # lines before show(); None once shown
        self._lock = threading.Lock()
        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in wait()
        self._log.write("$ " + " ".join(cmd) + "\n")
        self._log.flush()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        # plain writes: rich rendering per line slowed training. On a quiet console (a stage
        # log takes library output) only ramen's lines are shown (its progress line: step,
        # loss, reward, tokens/s, time left; training/run.py); the log has every line.
        self._shown = console.file if quiet() else sys.stdout
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _echo(self, line: str) -> None:
        if quiet():
            # the Trainer's raw output stays in the log; a `ramen:` line is shown, also when a
            # progress bar (carriage returns, no newline) came before it on the same line
            at = line.find("ramen: ")
            before = line[:at]
            bar = before.endswith("\r") or ("|" in before and before.endswith("]"))
            if at < 0 or (at > 0 and not bar):
                return
            line = line[at:]
        self._shown.write(line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self.last.append(line.rstrip())
            with self._lock:
                if self._held is not None:
                    self._held.append(line)
                    continue
            self._echo(line)
        self._log.flush()

    def show(self) -> None:
        """Echo the output from now on (and what was held back so far)."""
        with self._lock:
            held, self._held = self._held or [], None
        for line in held:
            self._echo(line)

    def wait(self) -> tuple[int, list[str]]:
        """The exit code and the last `tail` lines of output, once the command ends."""
        self.show()
        code = self.proc.wait()
        self._reader.join()
        self._log.close()
        self._shown.flush()
        return code, list(self.last)

    def cancel(self) -> None:
        """Stop the command and every process it started (nothing left running)."""
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.wait()


def run_logged(cmd: list[str], env: dict[str, str], log_path: Path, tail: int = 30):
    """Run `cmd`, appending its output to `log_path` and echoing it to stdout as it comes;
    returns (exit code, its last `tail` lines)."""
    return LoggedProcess(cmd, env, log_path, tail).wait()


def launch_env(gpu: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def on_gpu() -> bool:
    """Whether training runs on GPUs, without importing torch in the launching process (that
    alone costs seconds): an NVIDIA device node that CUDA_VISIBLE_DEVICES does not hide.
    RAMEN_DEVICE=cpu|gpu overrides it."""
    forced = os.environ.get("RAMEN_DEVICE", "").lower()
    if forced in ("cpu", "gpu"):
        return forced == "gpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))
