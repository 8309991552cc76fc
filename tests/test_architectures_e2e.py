"""The architectures users train, at tiny size through every stage on CPU (docs/families.md,
"Architectures"): recipes/tiny-moe.yaml (Qwen3-MoE: sampled, graded, ZeRO-3 on 2 processes,
then LoRA on attention, router and experts) and recipes/tiny-oss.yaml (gpt-oss in harmony), each
evaluated against its base; at every hand-off a check that what the next stage reads is what
the last one made: vLLM serves the trained weights token for token as transformers computes
them, LoRA names what it adapted and changed exactly that, the trained text is the generated
text."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, ramen

from ramen.testing import tiny


def _run_recipe(name: str, tmp_path: Path, *overrides: str) -> Path:
    recipe = tmp_path / name
    recipe.write_text((ROOT / "recipes" / name).read_text())
    ramen("run", str(recipe), f"workdir={tmp_path / 'runs'}", *overrides, check=True)
    return tmp_path / "runs" / name.removesuffix(".yaml")


def _serves_as_trained(*folders: Path) -> list[dict]:
    """ramen.testing.serving on model folders (one process): vLLM's greedy tokens against
    transformers', per folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "ramen.testing.serving", *map(str, folders)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == len(folders), proc.stderr[-3000:]
    return lines


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def _adapted_keys(keys, adapted: dict) -> set[str]:
    """The saved (per-expert) weight names of the modules LoRA adapted."""
    targets = {t for group in adapted["adapted"].values() for t in group}
    picked = set()
    for k in keys:
        parts = k.split(".")
        if "experts" in parts:
            proj = parts[-2]  # mlp.experts.<e>.<gate|up|down>_proj.weight
            fused = "experts.down_proj" if proj == "down_proj" else "experts.gate_up_proj"
            if fused in targets:
                picked.add(k)
        elif len(parts) > 1 and parts[-2] in targets and parts[-1] == "weight":
            picked.add(k)
    return picked


@pytest.mark.e2e
@pytest.mark.timeout(25 * 60)
def test_tiny_moe_through_every_stage(tmp_path):
    run = _run_recipe("tiny-moe.yaml", tmp_path)
    # full-parameter: ZeRO-3 over 2 processes trained the MoE
    log = (run / "train" / "train.log").read_text()
    for rank in (0, 1):
        assert f"rank {rank}/2 trained DeepSpeedEngine (deepspeed zero stage 3)" in log
    # LoRA names what it adapted, read from PEFT's own model: stats and examples.jsonl agree
    stats = json.loads((run / "train-2" / "stats.json").read_text())
    adapted = stats["lora_adapted"]
    assert sorted(adapted["adapted"]) == ["attention", "experts", "router"], adapted
    assert adapted["frozen"] == []
    header = json.loads((run / "train-2" / "examples.jsonl").read_text().splitlines()[0])
    assert header["header"]["lora"] == adapted and header["header"]["method"] == "dpo"
    # after the merge the weights differ from the step's base exactly where LoRA adapted
    base, merged = _weights(run / "train" / "model"), _weights(run / "train-2" / "merged")
    assert sorted(base) == sorted(merged), "the merge saved another layout than the base's"
    changed = {k for k in base if not (base[k] == merged[k]).all()}
    assert changed == _adapted_keys(base, adapted), sorted(changed ^ _adapted_keys(base, adapted))
    assert any(".mlp.experts.7.down_proj" in k for k in changed)  # every expert, by expert
    # vLLM serves what was trained, for the ZeRO-3 model and the merged LoRA model, and the
    # shipped MoE as it was built (one process for the three)
    served = _serves_as_trained(
        run / "train" / "model", run / "train-2" / "merged", tiny.model_path("moe")
    )
    for got in served:
        assert got["same"] == got["prompts"], got
    # sampled by the MoE, graded, and evaluated against its base
    assert json.loads((run / "sample" / "stats.json").read_text())["kept"] > 0
    assert (run / "report" / "report.md").is_file()
    for stage in ("evaluate", "evaluate-baseline"):
        assert (run / stage / "metrics.json").is_file()


@pytest.mark.e2e
@pytest.mark.timeout(25 * 60)
def test_tiny_oss_through_every_stage_in_harmony(tmp_path):
    from transformers import AutoTokenizer

    from ramen.inference.parsing import split_harmony

    run = _run_recipe("tiny-oss.yaml", tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny.model_path("oss"))
    # sampled at reasoning effort low, text kept with harmony's special tokens, split by channel
    samples = [json.loads(x) for x in (run / "sample" / "data.jsonl").read_text().splitlines()]
    finished = [s for s in samples if s["content"] is not None]
    assert finished
    for s in finished:
        assert "<|channel|>final<|message|>" in s["text"], s["text"]
        assert split_harmony(s["text"]) == (s["reasoning"], s["content"])
    # the trained text is the generated text: DPO's chosen is a sample, whole, then <|return|>
    generated = {s["text"] for s in samples}
    view = [json.loads(x) for x in (run / "train" / "examples.jsonl").read_text().splitlines()]
    header = view.pop(0)["header"]
    assert "Reasoning: low" in view[0]["prompt"]
    for ex in view:
        for side in ("chosen", "rejected"):
            text = ex[side].removesuffix("<|return|>")
            assert text in generated, (side, ex[side][:200])
    for token in ("<|channel|>", "<|message|>", "<|end|>", "<|start|>", "<|return|>"):
        assert tokenizer.convert_tokens_to_ids(token) in tokenizer.all_special_ids
    # LoRA on attention and the fused experts (target_parameters); the router stays frozen
    assert sorted(header["lora"]["adapted"]) == ["attention", "experts"]
    assert header["lora"]["frozen"] == ["router"]
    # vLLM serves what was trained: the merged LoRA model and the full SFT model after it, and
    # the shipped gpt-oss as it was built
    served = _serves_as_trained(
        run / "train" / "merged", run / "train-2" / "model", tiny.model_path("oss")
    )
    for got in served:
        assert got["same"] == got["prompts"], got
    assert (run / "report" / "report.md").is_file()
