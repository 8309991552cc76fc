"""The generation engine: one interface (`Engine`, opened by `open_engine`), three backends in
their own modules, and what they share (ramen/inference/backend.py: requests, seeds, budgets,
sample rows).

- `ramen/inference/offline.py` `OfflineEngine`: a vLLM `LLM` in this process, for batch jobs;
  finished samples come back one by one while the batch keeps running.
- `ramen/inference/client.py` `ServerEngine`: any OpenAI-compatible `/v1/chat/completions`
  endpoint, driven by an async client with a concurrency cap, timeouts and retries.
- `ramen/inference/server.py` `VLLMServer`: a real `vllm serve` on 127.0.0.1 (backend `serve`).

Lifecycle: `open_engine` (or `LazyEngine`, which opens on the first request) -> `generate`
any number of times (samples come back as they finish, not in request order) -> `close` (a
started server is stopped). Design rule: callers build `Request`s and read sample rows; they
never see which backend ran them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ramen.errors import UserError
from ramen.inference.backend import ChatRenderer, Request
from ramen.inference.client import ServerEngine
from ramen.inference.offline import OfflineEngine
from ramen.inference.server import VLLMServer
from ramen.spec import ModelSpec


class Engine(Protocol):
    """A model that turns requests into sample rows (see the module docstring for the
    lifecycle). Design rule: a sample row is keyed by its request (problem, sample index,
    recorded seed) and has the same fields whichever backend ran it, so a resumed run asks
    for exactly the samples it lacks and callers never branch on the backend."""

    name: str

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        """Yield one Sample row per request, in the order they finish."""
        ...

    def close(self) -> None: ...


class LazyEngine:
    """An engine opened on first use: a judge that has nothing to judge never loads a model."""

    def __init__(self, opener: Any, name: str):
        self._opener, self.name = opener, name
        self._stack: contextlib.ExitStack | None = None
        self._engine: Engine | None = None

    @classmethod
    def of(
        cls, spec: ModelSpec, path: str, name: str, *, seed: int = 0, log_dir: Path | None = None
    ) -> LazyEngine:
        """The engine `open_engine` would open for this model, opened on first use."""
        return cls(lambda: open_engine(spec, path, name, seed=seed, log_dir=log_dir), name)

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
