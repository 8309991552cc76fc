"""`ramen grade` as a user runs it: rules only, bad rows to rejects, the real tiny judge under
vLLM (its replies parse), a model that cannot judge (judge_error, never `incorrect`), and the
audit round trip (label by hand, then agreement and Cohen's kappa)."""

import json

import pytest
from conftest import cli, ramen

ROWS = [
    {"id": "a", "question": "What is 2 + 2?", "answer": "4", "answer_type": "exactMatch",
     "response": "<think>2+2=4</think>\n\nAnswer: 4\nConfidence: 90%"},
    {"id": "b", "question": "What is 2 + 3?", "answer": "5", "answer_type": "exactMatch",
     "response": "<think>2+3=6</think>\n\nAnswer: 6"},
    {"id": "c", "question": "Which colour?", "answer": "red", "answer_type": "exactMatch",
     "response": "Answer: crimson"},
    {"id": "d", "question": "Pick one", "answer": "B", "answer_type": "multipleChoice",
     "response": "Answer: (b)"},
    {"id": "e", "question": "What is 7 + 1?", "answer": "8", "answer_type": "exactMatch",
     "response": "<think>7+1 is"},
]  # fmt: skip


def _input(tmp_path, extra_lines=()):
    path = tmp_path / "answers.jsonl"
    lines = [json.dumps(r) for r in ROWS] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def _out(path):
    return {r["id"]: r for r in map(json.loads, path.open())}


@pytest.mark.unit
def test_grade_rules_only_with_bad_rows(tmp_path):
    inp = _input(tmp_path, ['{"id": "x"}', "not json", json.dumps(ROWS[0])])
    out = tmp_path / "graded.jsonl"
    proc = cli("grade", "--input", str(inp), "--output", str(out), "--no-judge", check=True)
    rows = _out(out)
    assert [rows[k]["verdict"] for k in "abcde"] == [
        "correct", "incorrect", "undecided", "correct", "incorrect"
    ]  # fmt: skip
    assert rows["a"]["extracted"] == "4", "the confidence line is not the answer"
    assert rows["e"]["rule"]["method"] == "no_answer", "cut inside reasoning: no answer"
    assert all(r["method"] == "rule" and r["judge"] is None for r in rows.values())
    rejects = [json.loads(x) for x in (tmp_path / "graded.rejects.jsonl").open()]
    assert sorted(r["reason"] for r in rejects) == [
        "duplicate_key",
        "invalid_json",
        "missing_question",
    ]
    assert "1 rows are undecided by rules" in proc.stdout


@pytest.mark.unit
def test_grade_bad_usage_exits_2(tmp_path):
    proc = cli(
        "grade", "--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o.jsonl")
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "--input" in proc.stderr
    proc = cli("grade", "--input", "x", "--output", "y", "--no-judge", "--judge", "tiny:judge")
    assert proc.returncode == 2 and "exclude each other" in proc.stderr
    for args, key in (
        ([], "--model"),
        (["--model", "tiny:strong", "--n", "0"], "--n"),
        (["--model", "tiny:strong", "--top-p", "0"], "--top-p"),
        (["--model", "tiny:strong", "--shard", "3/2"], "--shard"),
    ):
        proc = cli("generate", "--input", "x", "--output", "y", *args)
        assert proc.returncode == 2 and proc.stderr.startswith(f"error: {key}"), proc.stderr
        assert proc.stderr.strip().count("\n") == 0


@pytest.mark.slow
def test_grade_with_tiny_judge_and_audit(tmp_path):
    inp = _input(tmp_path)
    out = tmp_path / "graded.jsonl"
    proc = ramen("grade", "--input", str(inp), "--output", str(out), "--judge", "tiny:judge",
                 "--judge-all", "--audit", "3", check=True)  # fmt: skip
    rows = _out(out)
    judged = [r for r in rows.values() if r["method"] == "judge"]
    assert len(judged) == 4, "every row with a final answer goes to the judge with --judge-all"
    assert rows["e"]["method"] == "rule", "no final answer: nothing for the judge to read"
    parsed = [r for r in judged if r["verdict"] != "judge_error"]
    assert len(parsed) >= 3, "the tiny judge answers in the four-line format"
    for r in parsed:
        assert r["judge"]["correct"] in ("yes", "no") and 0 <= r["judge"]["confidence"] <= 100
    audit = tmp_path / "graded.audit.jsonl"
    assert "fill `human_label`" in proc.stdout
    items = [json.loads(x) for x in audit.open()]
    assert 1 <= len(items) <= 3 and all(i["human_label"] is None for i in items)
    for item in items:
        item["human_label"] = "correct" if item["problem_id"] in ("a", "d") else "incorrect"
    audit.write_text("".join(json.dumps(i) + "\n" for i in items))
    proc = ramen("grade", "--score-audit", str(audit), check=True)
    assert f"labelled {len(items)}" in proc.stdout and "Cohen's kappa" in proc.stdout


@pytest.mark.slow
def test_judge_that_cannot_answer_gives_judge_error(tmp_path):
    # tiny:strong answers "<think>..</think> Answer: N", never the judge's four lines.
    inp = _input(tmp_path)
    out = tmp_path / "graded.jsonl"
    proc = ramen("grade", "--input", str(inp), "--output", str(out), "--judge", "tiny:strong",
                 "--judge-retries", "1", check=True)  # fmt: skip
    rows = _out(out)
    assert rows["c"]["verdict"] == "judge_error" and rows["c"]["judge"]["attempts"] == 2
    assert rows["b"]["verdict"] == "incorrect" and rows["b"]["method"] == "rule"
    assert "1 judge_error rows" in proc.stdout
