"""Checkpoint sweeps (evaluation/evaluate_checkpoints.py): `evaluation.checkpoints` evaluates the trained
model's saved checkpoints like the final model, resumably, and the report plots the metric
against step and names the best checkpoint that beats the baseline after Holm's correction.

The set is one no tiny model answers (every code's number is 7), trained and evaluated on the
same questions, so the trained checkpoints must beat the base by far: a sweep that evaluated
the base's weights would not, and the last checkpoint must answer exactly as the final model."""

import json

import pytest
from conftest import ramen

from ramen.errors import RecipeError
from ramen.evaluation.evaluate_checkpoints import choose
from ramen.launch.recipe import recipe_from_dict


@pytest.mark.unit
def test_every_k_takes_every_kth_checkpoint_and_the_last():
    assert choose([10, 20, 30, 40, 50], "all") == [10, 20, 30, 40, 50]
    assert choose([10, 20, 30, 40, 50], "every_2") == [20, 40, 50]
    assert choose([10, 20, 30, 40], "every_2") == [20, 40]
    assert choose([10, 20], "every_5") == [20]
    assert choose([], "every_2") == []


@pytest.mark.unit
def test_a_retrained_run_does_not_reuse_the_old_runs_merged_checkpoints(tmp_path):
    """models/checkpoint-N/ is merged once; a retrained run saves other weights under the same
    name, so the merges of another train output (or of unknown origin) are removed."""
    from ramen.evaluation.evaluate_checkpoints import forget_other_merges

    models = tmp_path / "models"

    def merged(step=10):
        (models / f"checkpoint-{step}").mkdir(parents=True, exist_ok=True)
        (models / f"checkpoint-{step}" / "config.json").write_text("{}")

    merged()
    forget_other_merges(models, "train-hash-a")
    assert not (models / "checkpoint-10").exists(), "a merge of unknown origin is not trusted"
    merged()
    forget_other_merges(models, "train-hash-a")  # the same training, e.g. a resumed sweep
    assert (models / "checkpoint-10" / "config.json").is_file()
    forget_other_merges(models, "train-hash-b")
    assert not (models / "checkpoint-10").exists(), "another training's merge is not reused"


@pytest.mark.unit
def test_checkpoints_need_a_trained_model():
    recipe = {
        "name": "x",
        "models": {"strong": {"path": "tiny:strong"}},
        "evaluation": {"model": "strong", "checkpoints": "all", "benchmarks": ["hle"],
                       "judge": "strong"},
    }  # fmt: skip
    with pytest.raises(RecipeError) as e:
        recipe_from_dict(recipe)
    assert "evaluation.checkpoints: checkpoints are the trained model's" in str(e.value)


RECIPE = """
name: sweep
seed: 0
workdir: {work}/runs
models:
  strong: {{path: "tiny:strong", dtype: float32, max_model_len: 1024}}
training:
  method: sft
  base: strong
  data: {work}/codes.jsonl
  lora: {{r: 16, alpha: 32, dropout: 0.0}}
  args: {{max_steps: 30, save_steps: 10, per_device_train_batch_size: 8, learning_rate: 5.0e-3}}
evaluation:
  model: trained
  baseline: strong
  checkpoints: every_2
  samples: 1
  temperature: 0.0
  benchmarks:
    - {{name: qa, path: {work}/codes-eval.jsonl, label: codes}}
"""


@pytest.mark.slow
@pytest.mark.timeout(20 * 60)
def test_a_sweep_evaluates_every_checkpoint_and_the_report_finds_the_best(tmp_path):
    # every code's number is 7: a number, so the rules decide each answer without a judge
    (tmp_path / "codes.jsonl").write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"Name the number of code {i}."},
        {"role": "assistant", "content": f"<think>\ncode {i} is 7\n</think>\n\nAnswer: 7"},
    ]}) + "\n" for i in range(24)))  # fmt: skip
    (tmp_path / "codes-eval.jsonl").write_text("".join(json.dumps(
        {"id": f"c{i}", "question": f"Name the number of code {i}.", "answer": "7"}) + "\n"
        for i in range(24)))  # fmt: skip
    (tmp_path / "r.yaml").write_text(RECIPE.format(work=tmp_path))
    ramen("run", str(tmp_path / "r.yaml"), check=True)
    run = tmp_path / "runs" / "sweep"

    # every checkpoint was kept (save_total_limit would keep 2); every 2nd and the last are
    # evaluated, each in its own folder
    sweep = json.loads((run / "evaluate-checkpoints" / "checkpoints.json").read_text())
    assert sweep["saved"] == [10, 20, 30] and sorted(map(int, sweep["steps"])) == [20, 30]
    acc = {int(s): m["codes"]["accuracy"] for s, m in sweep["steps"].items()}
    for step in (20, 30):
        folder = run / "evaluate-checkpoints" / f"checkpoint-{step}"
        rows = [json.loads(x) for x in (folder / "data.jsonl").open()]
        assert len(rows) == 24 and {r["step"] for r in rows} == {step}
        assert acc[step] == pytest.approx(100 * sum(r["score"] for r in rows) / 24, abs=0.01)
    # the last checkpoint is the final model: same weights, same seeds, same answers
    final = {json.loads(x)["id"]: json.loads(x)["content"]
             for x in (run / "evaluate" / "data.jsonl").open()}  # fmt: skip
    last = {json.loads(x)["id"]: json.loads(x)["content"]
            for x in (run / "evaluate-checkpoints" / "checkpoint-30" / "data.jsonl").open()}  # fmt: skip
    assert last == final
    # the trained checkpoints are far above the base, which has no reason to say 7
    base = json.loads((run / "evaluate-baseline" / "metrics.json").read_text())["codes"]["accuracy"]
    print("base", base, "checkpoints", acc)
    assert acc[30] > base + 25

    report = (run / "report" / "report.md").read_text()
    assert "## Checkpoints" in report and "Holm" in report
    summary = json.loads((run / "report" / "checkpoints.json").read_text())
    best = summary["benchmarks"]["codes"]["best"]
    cands = summary["comparison"]["benchmarks"]["codes"]["candidates"]
    winners = {
        int(n.split()[1]): c
        for n, c in cands.items()
        if c["distinguishable"] and c["difference"] > 0
    }
    assert best == max(winners, key=lambda s: winners[s]["difference"])
    assert f"| {best} (best) |" in report
    assert best is not None  # 24 questions the base misses and a checkpoint answers: beyond noise
    assert (run / "report" / "plots" / "codes-checkpoints.png").stat().st_size > 5000

    # a rerun resumes: nothing is generated again
    again = ramen("run", str(tmp_path / "r.yaml"), "--force", "evaluate-checkpoints", check=True)
    stats = json.loads((run / "evaluate-checkpoints" / "stats.json").read_text())
    assert all(g["generated"] == 0 for g in stats["generation"].values()), stats["generation"]
    assert "evaluate-checkpoints" in again.stdout + again.stderr
