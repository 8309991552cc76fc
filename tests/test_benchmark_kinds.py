"""Benchmark kinds as plugins (issue 33 item 3): the registry the kind modules fill, the
options each kind owns, and docs/architecture.md's worked example of a new kind, run through
the real evaluate and report stages."""

import importlib.util
import json
from pathlib import Path

import pytest

from ramen.benchmarks import KINDS, BenchmarkKind, kind, register
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.errors import RecipeError, UserError
from ramen.launch.recipe import recipe_from_dict

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "multiple_choice.py"


@pytest.fixture
def example():
    """The worked example's module, loaded the way importing ramen.benchmarks loads a kind
    module (its @register runs on import); its kind leaves the registry afterwards."""
    spec = importlib.util.spec_from_file_location("multiple_choice", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    KINDS.pop("choices", None)


@pytest.mark.unit
def test_every_kind_module_registers_itself():
    names = {p.stem for p in (ROOT / "ramen" / "benchmarks").glob("*.py")}
    assert {"hle", "qa", "dna"} <= names
    assert {"hle", "qa", "do_not_answer"} <= set(KINDS)
    for name, k in KINDS.items():
        assert k.name == name and isinstance(k, BenchmarkKind)
        assert type(k).__module__.startswith("ramen.benchmarks.")


@pytest.mark.unit
def test_a_second_kind_of_one_name_is_refused():
    with pytest.raises(TypeError, match="registered twice"):

        @register
        class Another(BenchmarkKind):
            name = "hle"

    assert type(KINDS["hle"]).__name__ == "Hle"


@pytest.mark.unit
def test_an_unknown_kind_names_the_closest_and_lists_all():
    with pytest.raises(UserError, match="did you mean 'hle'.*do_not_answer, hle, qa"):
        kind("hel")
    with pytest.raises(RecipeError, match=r"evaluation.benchmarks\[0\].name: unknown benchmark"):
        recipe_from_dict(
            {
                "name": "t",
                "models": {"m": {"path": "tiny:weak"}},
                "evaluation": {"model": "m", "benchmarks": ["dna"]},
            }  # fmt: skip
        )


@pytest.mark.unit
def test_a_kind_owns_its_options():
    dna = BenchmarkSpec.model_validate({"name": "do_not_answer", "judge_reasoning": True})
    assert dna.options.judge_reasoning is True and dna.options.judge_prompt == "judge_dna.txt"
    with pytest.raises(ValueError, match="judge_reasoning: Input should be a valid boolean"):
        BenchmarkSpec.model_validate({"name": "do_not_answer", "judge_reasoning": "maybe"})
    with pytest.raises(ValueError, match="not a key of a benchmark entry or an option of qa"):
        BenchmarkSpec.model_validate({"name": "qa", "path": "x.jsonl", "judge_reasoning": True})
    # the section's old keys say where they went
    with pytest.raises(RecipeError, match="`dna_judge_prompt` moved into the do_not_answer"):
        recipe_from_dict(
            {"name": "t", "models": {"m": {"path": "tiny:weak"}},
             "evaluation": {"model": "m", "benchmarks": ["hle"], "dna_judge_prompt": "x.txt"}}
        )  # fmt: skip


@pytest.mark.unit
def test_the_worked_example_kind_validates_its_entry(example):
    spec = BenchmarkSpec.model_validate(
        {"name": "choices", "path": "q.jsonl", "accept_text": False}
    )
    assert spec.options.accept_text is False
    with pytest.raises(ValueError, match="needs `path`"):
        BenchmarkSpec.model_validate({"name": "choices"})
    with pytest.raises(ValueError, match="option of choices \\(its options: accept_text\\)"):
        BenchmarkSpec.model_validate({"name": "choices", "path": "q.jsonl", "benign": "x"})


QUESTIONS = [
    {"id": "q1", "question": "What is 7 + 5?", "choices": ["11", "12", "13"], "answer": "B"},
    {"id": "q2", "question": "What is 9 + 4?", "choices": ["13", "14"], "answer": "A"},
    {"id": "q3", "question": "What is 3 + 8?", "choices": ["10", "12", "11"], "answer": "C"},
    {"id": "q4", "question": "What is 6 + 6?", "choices": ["12", "16", "18"], "answer": "A"},
    {"id": "q5", "question": "What is 2 + 2?", "choices": ["4"], "answer": "A"},  # one option
]


@pytest.mark.slow
def test_the_worked_example_kind_runs_through_evaluate_and_report(example, tmp_path):
    """docs/architecture.md: a new kind is one module. Loaded, it is evaluated by the real
    evaluate stage (the tiny strong model on vLLM) and reported by the real report stage."""
    from ramen.launch.runner import Runner
    from ramen.launch.stages import STAGES

    data = tmp_path / "mcq.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    recipe = recipe_from_dict({
        "name": "mcq", "seed": 0, "workdir": str(tmp_path / "runs"),
        "models": {"strong": {"path": "tiny:strong", "dtype": "float32", "max_model_len": 1024}},
        "evaluation": {"model": "strong", "samples": 2, "temperature": 1.0,
                       "benchmarks": [{"name": "choices", "path": str(data)}]},
    })  # fmt: skip
    ran = Runner(recipe, STAGES).run(only=["models", "evaluate", "report"])
    assert ran == {"models": "ran", "evaluate": "ran", "report": "ran"}
    out = tmp_path / "runs" / "mcq"
    metrics = json.loads((out / "evaluate" / "metrics.json").read_text())["choices"]
    rows = [json.loads(x) for x in (out / "evaluate" / "data.jsonl").read_text().splitlines()]
    assert metrics["kind"] == "choices" and metrics["questions"] == 4
    rejects = [json.loads(x) for x in (out / "evaluate" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["row"]["id"], r["reason"]) for r in rejects] == [("q5", "not_2_to_10_choices")]
    assert len(rows) == 4 * 2 and {r["id"] for r in rows} == {"q1", "q2", "q3", "q4"}
    first = [r for r in rows if r["sample_index"] == 0]
    assert metrics["accuracy"] == round(100 * sum(r["score"] for r in first) / 4, 2)
    for r in rows:  # each verdict is the rule's, on the lettered question the model saw
        assert "(A) " in r["question"] and r["score"] == int(r["correct"])
        if r["extracted"] is None:
            assert r["correct"] is False
    report = (out / "report" / "report.md").read_text()
    assert "## choices" in report and "| accuracy |" in report
