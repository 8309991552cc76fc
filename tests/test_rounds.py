"""On-policy rounds (`rounds:`): the stage plan, each round's recipe, what a round stage
reads, and which stages a change reruns. The end-to-end run is in test_rounds_e2e.py."""

from pathlib import Path

import pytest

from ramen.io import hash_obj
from ramen.launch.recipe import RecipeError, load_recipe, round_recipe
from ramen.launch.runner import Runner
from ramen.launch.stages import STAGES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = ROOT / "recipes" / "tiny-rounds.yaml"


def _recipe(*overrides: str):
    return load_recipe(ROUNDS, list(overrides))


def _plan(recipe) -> list[str]:
    return [s.name for s in STAGES if s.enabled(recipe)]


def _stage(name: str):
    return next(s for s in STAGES if s.name == name)


def test_a_later_round_repeats_sampling_to_evaluation_and_shares_the_rest():
    plan = _plan(_recipe())
    assert plan[plan.index("evaluate-baseline") + 1 :] == [
        "sample@2", "grade@2", "select@2", "pairs@2", "train@2", "evaluate@2", "report",
    ]  # fmt: skip
    assert plan.count("prepare") == 1 and "filter@2" not in plan
    three = _plan(_recipe("rounds.count=3", "rounds.refilter=true"))
    assert [s for s in three if s.endswith("@3")] == [
        "filter@3", "sample@3", "grade@3", "select@3", "pairs@3", "train@3", "evaluate@3",
    ]  # fmt: skip
    # a fixed evaluated model is the same in every round: evaluated once
    fixed = _plan(_recipe("evaluation.model=weak", "evaluation.baseline=strong"))
    assert "evaluate" in fixed and "evaluate@2" not in fixed and "train@2" in fixed
    # without `rounds:` no round stage is planned
    assert not [s for s in _plan(load_recipe(ROOT / "recipes" / "tiny.yaml")) if "@" in s]


def test_round_two_samples_and_trains_from_round_ones_trained_model():
    recipe = _recipe()
    two = round_recipe(recipe, 2)
    assert two.curation.sample.model == "trained-r1"
    assert two.training.base == "trained-r1"  # train_from: previous
    # round 1 trains a LoRA: its merged folder, with the base model's settings
    assert two.models["trained-r1"].path == "run:train/merged"
    assert two.models["trained-r1"].dtype == recipe.models["strong"].dtype
    assert round_recipe(recipe, 1) is recipe
    assert recipe.curation.sample.model == "strong"  # the run's own recipe is unchanged

    base = round_recipe(_recipe("rounds.train_from=base"), 2)
    assert base.training.base == "strong" and base.curation.sample.model == "trained-r1"
    full = round_recipe(_recipe("training.lora=null", "rounds.count=3"), 3)
    assert full.models["trained-r2"].path == "run:train@2/model"  # full weights: model/
    refilter = round_recipe(_recipe("rounds.refilter=true"), 2)
    assert refilter.curation.filter.models == ["trained-r1"]


def test_a_round_stage_reads_the_previous_rounds_model_and_its_own_rounds_inputs():
    recipe = _recipe("rounds.keep_earlier=true")
    runner = Runner(recipe, STAGES)
    needs = {s.name: runner.needs(s) for s in runner.plan}
    # round 1's filter (no refilter) and round 1's training (the sampler's weights)
    assert set(needs["sample@2"]) == {"filter", "decontaminate", "train"}
    assert set(needs["grade@2"]) == {"sample@2"}
    assert set(needs["pairs@2"]) == {"select@2", "train", "pairs"}  # keep_earlier: round 1's set
    assert set(needs["train@2"]) == {"pairs@2", "train"}
    assert {"evaluate", "evaluate@2", "train", "train@2"} <= set(needs["report"])
    # the stage function finds its own round's inputs under their plain names, and another
    # round's under `<stage>@<round>` (round 1's `train` must not pass for round 2's)
    key = _stage("evaluate@2").input_key
    assert key("train@2") == "train" and key("train") == "train@1"
    assert _stage("sample@2").input_key("filter") == "filter"
    assert _stage("pairs@2").config(recipe)["earlier rounds kept from"] == "pairs@1"
    assert _stage("pairs@2").config(_recipe())["earlier rounds kept from"] is None


def test_a_round_two_knob_changes_round_two_stages_only():
    before = {s.name: hash_obj(s.config(_recipe())) for s in STAGES if s.enabled(_recipe())}
    changed = _recipe("rounds.set.2.curation.pairs.per_problem=1")
    after = {s.name: hash_obj(s.config(changed)) for s in STAGES if s.enabled(changed)}
    assert sorted(n for n in before if before[n] != after[n]) == ["pairs@2"]
    assert round_recipe(changed, 2).curation.pairs.per_problem == 1
    assert changed.curation.pairs.per_problem == 2  # round 1 keeps the recipe's value
    # a nested mapping and a dotted key are the same change
    nested = load_recipe(ROUNDS, ["rounds.set={2: {curation: {pairs: {per_problem: 1}}}}"])
    assert nested.rounds.set == {2: {"curation.pairs.per_problem": 1}}


@pytest.mark.parametrize(
    "override, says",
    [
        ("rounds.count=1", "rounds.count"),
        ("rounds.count=9", "rounds.count"),
        ("rounds.set.3.curation.sample.n=2", "round 3 is not a later round"),
        ("rounds.set.2.evaluation.samples=3", "not a curation.* or training.* key"),
        ("rounds.set.2.curation.sample.temprature=1", "rounds.set.2"),
        ("rounds.set.2.curation.select.max_correct=9", "rounds.set.2"),
        ("rounds.train_from=last", "rounds.train_from"),
    ],
)
def test_a_bad_rounds_section_is_one_line_naming_its_key(override, says):
    with pytest.raises(RecipeError) as err:
        _recipe(override)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_rounds_need_sampling_and_training():
    with pytest.raises(RecipeError, match="rounds: .*needs curation.sample and training"):
        load_recipe(ROUNDS, ["training=null", "evaluation.model=weak"])


def test_the_round_model_names_are_reserved():
    with pytest.raises(RecipeError, match="trained-r1.*reserved"):
        load_recipe(ROUNDS, ['models.trained-r1={path: "tiny:weak"}'])


def test_the_slurm_launch_chains_the_rounds(tmp_path):
    from conftest import cli

    out = cli("launch", str(ROUNDS), f"workdir={tmp_path}", "--backend", "slurm", "--dry-run",
              check=True).stdout  # fmt: skip
    after = {
        line.rsplit("/", 1)[1].removesuffix(".sbatch"): line.split("afterok:")[1].split()[0]
        for line in out.splitlines()
        if line.startswith("# submit:") and "afterok:" in line
    }
    # round 2 samples after round 1's training, and each round-2 stage after the one it reads
    assert "<train>" in after["sample@2"] and "<filter>" in after["sample@2"]
    assert after["grade@2"].startswith("<sample@2>")
    assert "<pairs@2>" in after["train@2"] and "<train>" in after["train@2"]
    assert "<evaluate@2>" in after["report"] and "<evaluate>" in after["report"]


def test_a_round_samples_store_is_keyed_by_the_weights_it_samples(tmp_path):
    """Round r-1's retrained model has the same folder; its old samples must not be resumed as
    its own: the store's settings carry the output hash of the stage that made the model."""
    from ramen.curation.model_stages import produced_by
    from ramen.stage import StageContext

    (tmp_path / "train" / "merged").mkdir(parents=True)
    ctx = StageContext(
        name="sample@2", out_dir=tmp_path / "sample@2", config={}, seed=0,
        inputs={"train@1": tmp_path / "train", "filter": tmp_path / "filter"},
        input_hashes={"train@1": "h-train", "filter": "h-filter"},
    )  # fmt: skip
    assert produced_by(ctx, str(tmp_path / "train" / "merged")) == "h-train"
    assert produced_by(ctx, str(tmp_path / "elsewhere")) is None
