"""GRPO with ramen's grader as the reward (training/grpo.py, training/reward.py).

Unit: the reward of a completion is the rule grader's verdict of its final answer, read as
sampling reads it; an undecided answer or a judge error is missing (None), never 0. Slow: the
real train stage (accelerate launch, TRL's GRPOTrainer) on the tiny strong model, SIGKILLed
after a checkpoint and resumed: its mean reward rises on a small set it can overfit, every
step's rollouts are logged once, every logged reward equals the grader recomputed from the
logged completion, and the prompts are the model's own template's rendering."""

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from conftest import RAMEN, ROOT, ramen

from ramen.grading.grader import rule_grade
from ramen.grading.judge import Judge
from ramen.inference.parsing import OutputParser
from ramen.testing import tiny, tiny_build
from ramen.training.reward import GraderReward


def _reward(tmp_path, judge=None):
    """The reward with a tokenizer wearing the Qwen3 template TRL ships (no model needed)."""
    from families import dress

    tokenizer = dress(
        tiny_build.build_tokenizer(["What is 7 + 5? Answer: 12 think cm mm"] * 4), "qwen3"
    )
    parser = OutputParser(tokenizer, {}, "auto", "strong", "qwen3")
    assert parser.name == "qwen3"
    return GraderReward(tokenizer, parser, tmp_path / "rewards-rank0.jsonl", judge)


COMPLETIONS = [
    ("<think>\n7+5=12\n</think>\n\nAnswer: 12", "12", "exactMatch", 1.0),  # correct
    ("<think>\n7+5=13\n</think>\n\nAnswer: 13", "12", "exactMatch", 0.0),  # wrong
    ("<think>\n7+5 is", "12", "exactMatch", 0.0),  # cut inside its reasoning: no answer
    ("<think>\nok\n</think>\n\nAnswer: 5 cm", "5 mm", "exactMatch", None),  # rules unsure
]


@pytest.mark.unit
def test_reward_is_the_rule_grader_and_undecided_is_missing(tmp_path):
    reward = _reward(tmp_path)
    got = reward(
        prompts=["p"] * len(COMPLETIONS),
        completions=[c[0] for c in COMPLETIONS],
        answer=[c[1] for c in COMPLETIONS],
        answer_type=[c[2] for c in COMPLETIONS],
        problem_id=[str(i) for i in range(len(COMPLETIONS))],
    )
    assert got == [c[3] for c in COMPLETIONS]
    logged = [json.loads(x) for x in (tmp_path / "rewards-rank0.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in logged] == got
    assert [r["verdict"] for r in logged] == ["correct", "incorrect", "incorrect", "undecided"]
    assert logged[2]["content"] is None  # no answer was read out of the reasoning


class _UnparsableJudge(Judge):
    """Fault injection: every judge reply is unparsable after its retries."""

    def __init__(self):
        super().__init__(engine=None, template="{question}{response}{correct_answer}")
        self.asked = []

    def judge(self, items):
        for item in items:
            self.asked.append(item.key)
            yield item.key, {"verdict": "judge_error", "raw": "???", "attempts": 3}


@pytest.mark.unit
def test_a_judge_error_is_missing_never_wrong(tmp_path):
    judge = _UnparsableJudge()
    reward = _reward(tmp_path, judge)
    metrics = {}
    got = reward(
        prompts=["p", "p"],
        completions=[c[0] for c in (COMPLETIONS[0], COMPLETIONS[3])],
        answer=["12", "5 mm"],
        answer_type=["exactMatch", "exactMatch"],
        problem_id=["a", "b"],
        question=["What is 7 + 5?", "How long?"],
        log_metric=lambda k, v: metrics.__setitem__(k, v),
    )
    assert got == [1.0, None]  # only the undecided answer went to the judge
    assert judge.asked == [("b", 1)]
    assert metrics == {"ramen/undecided": 0.0, "ramen/judge_error": 0.5}


@pytest.mark.unit
def test_a_resumed_run_redoes_the_rollouts_after_its_checkpoint(tmp_path):
    """rewards.jsonl after a kill: the rows of rollouts made before the checkpoint stay (a torn
    last line goes), those made after it are dropped (the resumed run makes them again)."""
    from ramen.training.run import merge_rewards, trim_rewards

    log = tmp_path / "rewards-rank0.jsonl"
    rows = [{"step": s, "problem_id": f"p{s}", "reward": 1.0} for s in range(6)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "rew')
    trim_rewards(log, 4)  # resumed from checkpoint-4
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [0, 1, 2, 3]
    (tmp_path / "rewards-rank1.jsonl").write_text(json.dumps({"step": 0, "problem_id": "q"}) + "\n")
    merge_rewards(tmp_path)
    merged = [json.loads(x) for x in (tmp_path / "rewards.jsonl").read_text().splitlines()]
    assert [(r["step"], r["problem_id"]) for r in merged][:3] == [(0, "p0"), (0, "q"), (1, "p1")]
    assert not list(tmp_path.glob("rewards-rank*"))
    trim_rewards(log, 0)  # a fresh start keeps nothing of an earlier run (no file: no error)


def _steps_logged(stage) -> int:
    path = stage / "metrics.jsonl"
    return sum("loss" in line for line in path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.slow
def test_grpo_stage_raises_the_reward_with_the_grader_as_reward(tmp_path):
    from transformers import AutoTokenizer

    from ramen.bundled import resolve_bundled

    # remainders: the shipped strong is right on about a quarter of its samples of them (the
    # demo's grade stage), so the reward has room to rise (on the first 8 problems, sums it
    # mostly knows, it starts above 0.8)
    rows = [
        r
        for r in map(json.loads, open(resolve_bundled("bundled:problems.jsonl")))
        if r.get("category") == "number_theory"
    ][:8]
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "grpo.yaml"
    recipe.write_text(
        f"""
name: grpo
seed: 0
workdir: {tmp_path}/runs
models:
  strong: {{path: "tiny:strong", dtype: float32, max_model_len: 1024}}
training:
  method: grpo
  base: strong
  data: {data}
  lora: {{r: 8, alpha: 16, dropout: 0.0}}
  args: {{learning_rate: 2.0e-3, max_steps: 48, per_device_train_batch_size: 8,
         num_generations: 8, max_completion_length: 64, beta: 0.0, save_steps: 16}}
"""
    )
    stage = tmp_path / "runs" / "grpo" / "train"
    # SIGKILL the whole run (the stage and accelerate's workers) after its first checkpoint,
    # mid-way to the second; the rerun resumes from it and redoes the rollouts after it
    proc = subprocess.Popen(
        [*RAMEN, "run", str(recipe)], cwd=ROOT, start_new_session=True,
        env={**os.environ, "RAMEN_NO_PROGRESS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not (stage / "checkpoints" / "checkpoint-16" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint at step 16"
        time.sleep(0.05)
    while _steps_logged(stage) < 22:
        assert proc.poll() is None and time.monotonic() < deadline, "no step after 16"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (stage / "manifest.json").exists()
    ramen("run", str(recipe), check=True)
    assert "ramen: resuming from" in (stage / "train.log").read_text()
    logged = [json.loads(x) for x in (stage / "rewards.jsonl").read_text().splitlines()]
    # every step's 8 rollouts once: none lost by the kill, none kept twice by the resume
    assert Counter(r["step"] for r in logged) == dict.fromkeys(range(48), 8)
    # each reward is ramen's grader on what the model wrote, recomputed here
    tokenizer = AutoTokenizer.from_pretrained(tiny.model_path("strong"))
    parser = OutputParser(tokenizer, {}, "auto", "strong", "qwen3")
    for r in logged:
        _, content = parser.split(r["text"])
        verdict = rule_grade(content, r["answer"], r["answer_type"]).verdict
        assert r["reward"] == {"correct": 1.0, "incorrect": 0.0}.get(verdict), r
    first = [r["reward"] or 0.0 for r in logged if r["step"] < 8]
    last = [r["reward"] or 0.0 for r in logged if r["step"] >= 40]
    assert sum(last) / len(last) > sum(first) / len(first) + 0.15, (first, last)
    # the prompts are the model's own template's rendering of each question
    examples = [json.loads(x) for x in (stage / "examples.jsonl").read_text().splitlines()]
    assert examples[0]["header"]["method"] == "grpo"
    examples = examples[1:]
    for ex, row in zip(examples, rows, strict=False):
        want = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}],
            tokenize=False,
            add_generation_prompt=True,
        )
        assert ex["prompt"] == want and ex["answer"] == row["answer"]
    metrics = [json.loads(x) for x in (stage / "metrics.jsonl").read_text().splitlines()]
    assert any("reward" in m and "completions/clipped_ratio" in m for m in metrics)
    steps = [m["step"] for m in metrics if "loss" in m]
    assert steps == list(range(1, 49)), "every step logged once across the kill"
    assert (stage / "loss.png").stat().st_size > 0


@pytest.mark.unit
def test_the_report_shows_the_training_steps(tmp_path):
    """The report's training section: per block of steps the mean loss and, for GRPO, the mean
    reward, its spread, the share cut at the budget and the share left unscored."""
    from ramen.evaluation.report import training_section

    stage = tmp_path / "train"
    stage.mkdir()
    (stage / "spec.json").write_text(json.dumps({"method": "grpo", "data_source": "p.jsonl"}))
    rows = [
        {"step": s, "loss": 0.1, "reward": s / 10, "reward_std": 0.5,
         "completions/clipped_ratio": 0.25 if s > 5 else 0.0, "ramen/undecided": 0.125,
         "ramen/judge_error": 0.0}
        for s in range(1, 11)
    ]  # fmt: skip
    rows.append({"step": 10, "train_runtime": 3.0})  # the Trainer's summary: not a step
    (stage / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines, files = training_section({"train": stage}, tmp_path / "plots")
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| steps | mean loss | mean reward")
    assert table[1] == "| 1-2 | 0.1000 | 0.150 | 0.500 | 0.0% | 12.5% |"
    assert table[-1] == "| 9-10 | 0.1000 | 0.950 | 0.500 | 25.0% | 12.5% |"
    assert "10 steps" in lines[2] and files == []  # no loss.png written: no plot claimed
