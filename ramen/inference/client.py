"""The client backend: any OpenAI-compatible `/v1/chat/completions` endpoint (a `vllm serve`
ramen started, or one the recipe names), driven by an async client with a concurrency cap,
timeouts and retries with backoff; a server ramen started is restarted when it dies.
"""

from __future__ import annotations

import asyncio
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ramen.console import err_console
from ramen.inference.backend import (
    ChatRenderer,
    EngineError,
    Request,
    attempt_seed,
    completion_budget,
    keep_special_tokens,
    make_sample,
    output_parser,
    too_long,
)
from ramen.inference.parsing import prompt_opens_think
from ramen.inference.sampling_params import (
    applied,
    knob_defaults,
    local_tokenizer,
)
from ramen.inference.server import VLLMServer
from ramen.spec import ModelSpec

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
        # reasoning_effort as the request's field, chat_template_kwargs (vLLM's extension) only
        # when the recipe asks for it
        body.update(self.spec.request_fields())
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
                return too_long(req, self.name, prompt_tokens, req.seed)
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
