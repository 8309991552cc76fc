"""SFT then DPO through the real train stages (accelerate launch, TRL) on tiny bases that
carry the chat templates of the competition's families. The trainer's view
(`examples.jsonl`) shows each turn rendered as that family generates it: the reasoning once,
where the family writes it (gpt-oss: the analysis channel), the end-of-turn token after a
finished turn and none after a turn cut off by the token budget."""

import json

import pytest
from conftest import ramen
from families import dress, end_of_turn, tiny_base

from ramen.testing import tiny

pytestmark = pytest.mark.slow

QUESTION = "What is {a} + {b}?"


def _rows(n=8):
    sft, pairs = [], []
    for i in range(n):
        a, b = i + 2, i + 5
        prompt = [{"role": "user", "content": QUESTION.format(a=a, b=b)}]
        good = f"{a} plus {b} makes {a + b}."
        # ramen's inline form and a reasoning field: both are read, whatever the family
        turn = (
            {"role": "assistant", "content": f"<think>\n{good}\n</think>\n\nAnswer: {a + b}"}
            if i % 2
            else {"role": "assistant", "content": f"Answer: {a + b}", "reasoning_content": good}
        )
        sft.append({"messages": [*prompt, turn]})
        cut = {"role": "assistant", "content": f"<think>\n{a} plus {b} makes"}  # no answer
        wrong = {"role": "assistant", "content": f"<think>\n{a} plus {b} is {a + b + 1}.\n</think>\n\nAnswer: {a + b + 1}"}  # fmt: skip
        pairs.append({"prompt": prompt, "chosen": [turn], "rejected": [cut if i % 2 else wrong]})
    return sft, pairs


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "family", ["qwen3-thinking-2507", "gptoss", "deepseek_r1_distill", "qwen3_8"]
)
def test_sft_then_dpo_train_each_family_as_it_generates(tmp_path, family):
    base = tiny_base(family, tiny.model_path("strong"), tmp_path / "base")
    sft, pairs = _rows()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: fam
workdir: {tmp_path / "runs"}
models:
  base: {{path: {base}, dtype: float32, max_model_len: 512}}
training:
  method: sft
  base: base
  data: {_write(tmp_path / "sft.jsonl", sft)}
  args: {{max_steps: 2, per_device_train_batch_size: 2, save_steps: 100}}
  then:
    - {{method: dpo, data: {_write(tmp_path / "pairs.jsonl", pairs)}, args: {{max_steps: 2, per_device_train_batch_size: 2, save_steps: 100}}}}
""")  # fmt: skip
    out = ramen("run", str(recipe), "--stages", "train,train-2")
    assert out.returncode == 0, out.stderr[-3000:]
    runs = tmp_path / "runs" / "fam"
    eot = end_of_turn(family)

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    sft_view = [json.loads(x) for x in (runs / "train" / "examples.jsonl").read_text().splitlines()]
    assert sft_view.pop(0)["header"]["method"] == "sft"
    assert len(sft_view) == len(sft)
    for i, (view, row) in enumerate(zip(sft_view, sft, strict=True)):
        a, b = i + 2, i + 5
        reasoning = f"{a} plus {b} makes {a + b}."
        prompt = tok.apply_chat_template(
            row["messages"][:1], tokenize=False, add_generation_prompt=True
        )
        assert view["text"] == prompt + view["loss_text"], "loss on the whole generated turn only"
        assert view["loss_text"].count(reasoning) == 1 and view["loss_text"].endswith(
            f"Answer: {a + b}{eot}"
        )
        _one_block(family, prompt + view["loss_text"], reasoning)

    dpo_view = [
        json.loads(x) for x in (runs / "train-2" / "examples.jsonl").read_text().splitlines()
    ]
    assert dpo_view.pop(0)["header"]["method"] == "dpo"
    for i, view in enumerate(dpo_view):
        a, b = i + 2, i + 5
        assert view["chosen"].count(f"{a} plus {b} makes {a + b}.") == 1 and view[
            "chosen"
        ].endswith(eot)
        _one_block(family, view["prompt"] + view["chosen"], f"{a} plus {b} makes {a + b}.")
        if i % 2:  # cut off by the budget: ends where generation stopped, no end token
            assert view["rejected"].endswith(f"{a} plus {b} makes") and eot not in view["rejected"]
        else:
            assert view["rejected"].endswith(f"Answer: {a + b + 1}{eot}")
    for stage in ("train", "train-2"):
        assert (runs / stage / "model" / "config.json").exists()
        stats = json.loads((runs / stage / "stats.json").read_text())
        assert stats["rows"] == len(sft) and not stats.get("rejected"), stats
    assert dress  # the same helper built the base's tokenizer


def _one_block(family, text, reasoning):
    """The reasoning sits in the family's own block, once, and never as literal <think> text
    in gpt-oss's final channel."""
    if family == "gptoss":
        analysis, final = text.rsplit("<|channel|>final<|message|>", 1)
        assert analysis.endswith(
            f"<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant"
        )
        assert "<think>" not in text and reasoning not in final
    else:
        assert text.count("<think>") == 1 and text.count("</think>") == 1
        assert text.index("<think>") < text.index(reasoning) < text.index("</think>")
