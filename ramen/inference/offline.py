"""The offline backend: a vLLM `LLM` in this process, for batch jobs. Requests go straight into
vLLM's engine loop (`llm_engine.add_request` / `step`), so finished samples come back one by
one while the batch keeps running: the caller appends each to the sample store at once.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ramen.errors import UserError
from ramen.inference.backend import (
    CPU_CHUNKED_PREFILL,
    ChatRenderer,
    Request,
    attempt_seed,
    completion_budget,
    keep_special_tokens,
    make_sample,
    on_gpu,
    output_parser,
    sampling_params,
    too_long,
    uses_ray,
)
from ramen.inference.parsing import prompt_opens_think
from ramen.inference.sampling_params import (
    generation_config,
)
from ramen.spec import ModelSpec


def engine_multiprocessing(spec: ModelSpec) -> bool:
    """Whether vLLM's engine core runs in its own process (see `engine.multiprocessing`)."""
    chosen = spec.engine.multiprocessing
    return on_gpu() if chosen is None else chosen


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
            gpu_memory_utilization=spec.memory_utilization(on_gpu()),
            trust_remote_code=spec.trust_remote_code,
            seed=seed,
            enforce_eager=(
                spec.engine.enforce_eager if spec.engine.enforce_eager is not None else not on_gpu()
            ),
        )
        if spec.engine.max_num_seqs:
            kwargs["max_num_seqs"] = spec.engine.max_num_seqs
        if uses_ray(spec):
            kwargs["distributed_executor_backend"] = "ray"
        if not on_gpu():
            kwargs["enable_chunked_prefill"] = CPU_CHUNKED_PREFILL
        kwargs.update(spec.engine.args)  # the recipe's (names checked when it loaded)
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
                yield too_long(req, self.name, len(ids), req.seed)
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

        with contextlib.suppress(Exception):
            self.llm.llm_engine.engine_core.shutdown()
        del self.llm
        gc.collect()
