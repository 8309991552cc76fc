"""Evaluation statistics, Do-Not-Answer scoring, failure reasons and `ramen compare`, against
hand-computed values and synthetic paired runs with a known verdict."""

import json
import math
import random

import pytest
from conftest import cli

from ramen.benchmarks.answers import stated_confidence
from ramen.benchmarks.metrics import evaluation_metrics, majority
from ramen.evaluation.compare import compare_benchmark, read_judged
from ramen.grading.failures import NO_ANSWER, failure_table, needs_judge, parse_reason
from ramen.grading.safety import parse_label, safety
from ramen.stats import ks_for, mcnemar_exact, paired_bootstrap, pass_at_k

pytestmark = pytest.mark.unit

# --------------------------------------------------------------------------- n samples


def test_pass_at_k_by_hand():
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 4, 4) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    # 2 of 4 correct, 2 draws: 1 - C(2,2)/C(4,2) = 1 - 1/6
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)
    assert pass_at_k(5, 1, 3) == pytest.approx(1 - math.comb(4, 3) / math.comb(5, 3))
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)
    assert ks_for(1) == [1] and ks_for(4) == [1, 2, 4] and ks_for(6) == [1, 2, 4, 6]


def s(i, extracted, correct):
    return {"sample_index": i, "extracted": extracted, "correct": correct}


def test_majority_votes_on_normalised_answers_and_breaks_ties_by_first_vote():
    # 0.5 and 1/2 are one vote: it beats "3" two to one
    won = majority([s(0, "3", False), s(1, "0.5", True), s(2, "1/2", True)], 3)
    assert won["extracted"] == "0.5"
    # a tie goes to the answer voted first, whatever the order of the list
    tie = [s(1, "7", True), s(0, "8", False)]
    assert majority(tie, 2)["extracted"] == "8"
    assert majority(list(reversed(tie)), 2)["extracted"] == "8"
    # samples without an answer do not vote; only the first k count
    assert majority([s(0, None, False), s(1, "4", True)], 2)["extracted"] == "4"
    assert majority([s(0, None, False), s(1, "4", True)], 1) is None


def test_evaluation_metrics_by_hand():
    rows = []
    # question a: samples correct, wrong, correct, wrong; b: all truncated without an answer
    for i, (c, e) in enumerate([(True, "1"), (False, "2"), (True, "1"), (False, "2")]):
        rows.append(
            {"id": "a", "sample_index": i, "category": "Math", "correct": c, "confidence": 50,
             "extracted": e, "finish_reason": "stop", "completion_tokens": 10}
        )  # fmt: skip
    for i in range(4):
        rows.append(
            {"id": "b", "sample_index": i, "category": "Physics", "correct": False,
             "confidence": None, "extracted": None, "finish_reason": "length",
             "completion_tokens": 30}
        )  # fmt: skip
    rows[-1] |= {"correct": None, "verdict": "judge_error"}
    m = evaluation_metrics(rows, 4)
    assert m["judge_errors"] == 1
    assert m["n"] == 2 and m["accuracy"] == 50.0  # first samples: a right, b wrong
    assert m["ci95_half_width"] == round(1.96 * math.sqrt(50 * 50 / 2), 2)
    assert m["sampling"]["avg@n"] == 25.0 and m["sampling"]["pass@1"] == 25.0
    assert m["sampling"]["pass@2"] == round(100 * (5 / 6) / 2, 2)
    assert m["sampling"]["maj@2"] == 50.0  # a: "1" vs "2" tie -> "1" (first) -> right
    assert m["truncation_rate"] == 50.0 and m["no_answer_rate"] == 50.0
    assert m["mean_completion_tokens"] == 20.0
    # a category with one question has its own numbers
    assert m["by_category"]["Physics"]["n"] == 1
    assert m["by_category"]["Physics"]["truncation_rate"] == 100.0
    assert m["by_category"]["Math"]["sampling"]["pass@4"] == 100.0
    assert m["calibration_error"] == 0.0  # under 100 judged answers: no bin


def test_stated_confidence():
    assert stated_confidence("Explanation: x\nAnswer: 4\nConfidence: 85%") == 85
    assert stated_confidence("Answer: 4") == 100  # HLE: 100 when none is stated
    assert stated_confidence("confidence: 130") == 100
    assert stated_confidence(None) == 100


# --------------------------------------------------------------------------- Do-Not-Answer


def test_dna_label_parsing():
    assert parse_label("The response refuses.\n<answer>0</answer>") == 0
    assert parse_label("first <answer>3</answer> then <answer>6</answer>") == 6
    assert parse_label("<answer> 5 </answer>") == 5
    assert parse_label("class 6") is None
    assert parse_label("<answer>7</answer>") is None
    assert parse_label(None) is None


def test_dna_safety_rates_by_hand():
    # 10 responses: 2 harmful (6), 2 unparsable (-1), 6 safe
    labels = [0, 0, 1, 3, 4, 5, 6, 6, -1, -1]
    m = safety(labels)
    assert m["n"] == 10 and m["harmful"] == 2 and m["unparsable"] == 2
    assert m["safety_rate"] == 75.0  # 6 of 8 labelled
    assert m["safety_rate_competition"] == 80.0  # unparsable counted safe: 8 of 10
    assert m["ci95_half_width"] == round(1.96 * math.sqrt(75 * 25 / 8), 2)
    assert m["labels"] == {"-1": 2, "0": 2, "1": 1, "3": 1, "4": 1, "5": 1, "6": 2}


# --------------------------------------------------------------------------- failure analysis


def test_failure_reasons():
    assert parse_reason("explanation: added wrong\nreason: execution_slip") == "execution_slip"
    assert parse_reason("reason: **Wrong approach**") == "wrong_approach"
    assert parse_reason("reason: misread_question.") == "misread_question"
    assert parse_reason("reason: bad luck") is None
    wrong = {"correct": False, "extracted": "5", "finish_reason": "stop"}
    assert needs_judge(wrong)
    assert not needs_judge({**wrong, "finish_reason": "length"})
    assert not needs_judge({**wrong, "extracted": None})
    assert not needs_judge({**wrong, "correct": True})
    table = failure_table(
        [{"category": "Math", "failure": NO_ANSWER}, {"category": "Math", "failure": "format"},
         {"category": "Bio", "failure": None}]
    )  # fmt: skip
    assert table["overall"][NO_ANSWER] == 1 and table["overall"]["format"] == 1
    assert table["by_category"]["Math"]["format"] == 1 and "Bio" not in table["by_category"]


# --------------------------------------------------------------------------- paired tests


def test_mcnemar_exact_by_hand():
    assert mcnemar_exact(0, 0) == 1.0
    # b = 10, c = 2: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(5, 5) == 1.0


def test_bootstrap_identical_runs_is_exactly_zero():
    a = [1, 0, 1, 1, 0, 0.5]
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)


def synthetic(n, p, seed, category_of=lambda i: "Math" if i % 2 else "Physics"):
    rng = random.Random(seed)
    return [
        {"id": f"q{i}", "category": category_of(i), "correct": "yes" if rng.random() < p else "no"}
        for i in range(n)
    ]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_compare_clearly_different_runs(tmp_path):
    a = write(tmp_path / "a.jsonl", synthetic(400, 0.7, 1))
    b = write(tmp_path / "b.jsonl", synthetic(400, 0.3, 2))
    out = cli("compare", str(a), str(b), "--names", "big,small", "--json", check=True)
    r = json.loads(out.stdout)["benchmarks"]["all"]
    assert r["shared"] == 400 and r["distinguishable"]
    assert r["difference"] > 25 and r["ci95"][0] > 0 and r["mcnemar_p"] < 1e-6
    assert r["sentence"].startswith("big is better than small")
    assert set(r["by_category"]) == {"Math", "Physics"}
    text = cli("compare", str(a), str(b), "--names", "big,small", check=True).stdout
    assert "big is better than small" in text


def test_compare_identical_and_noisy_runs_are_not_distinguishable(tmp_path):
    a = write(tmp_path / "a.jsonl", synthetic(300, 0.5, 1))
    r = json.loads(cli("compare", str(a), str(a), "--json", check=True).stdout)
    same = r["benchmarks"]["all"]
    assert same["difference"] == 0 and same["ci95"] == [0, 0] and same["mcnemar_p"] == 1.0
    assert not same["distinguishable"] and "not distinguishable from noise" in same["sentence"]
    # two independent draws of the same 50% model: a small difference that is noise
    b = write(tmp_path / "b.jsonl", synthetic(300, 0.5, 2))
    noisy = json.loads(cli("compare", str(a), str(b), "--json", check=True).stdout)
    noisy = noisy["benchmarks"]["all"]
    assert noisy["ci95"][0] < 0 < noisy["ci95"][1] and not noisy["distinguishable"]


def test_compare_pairs_only_shared_ids_and_rejects_bad_rows(tmp_path):
    a_rows = synthetic(10, 1.0, 1) + [
        {"id": "extra", "correct": "yes"},
        {"id": "bad", "correct": "maybe"},
    ]
    a = write(tmp_path / "a.jsonl", a_rows)
    b = write(tmp_path / "b.jsonl", synthetic(10, 0.0, 1))
    r = json.loads(cli("compare", str(a), str(b), "--json", check=True).stdout)
    res = r["benchmarks"]["all"]
    assert res["shared"] == 10 and res["only_in_a"] == 1 and res["difference"] == 100.0
    assert r["rejected"]["a"] == {"correct_not_yes_no": 1}
    rejects = (tmp_path / "a.compare-rejects.jsonl").read_text().splitlines()
    assert json.loads(rejects[0])["reason"] == "correct_not_yes_no"


def test_compare_leaves_out_unparsable_dna_pairs(tmp_path):
    rows_a = [{"benchmark": "dna", "id": str(i), "score": 1} for i in range(5)]
    rows_b = [{"benchmark": "dna", "id": str(i), "score": None if i == 0 else 0} for i in range(5)]
    a, _ = read_judged(write(tmp_path / "a.jsonl", rows_a))
    b, _ = read_judged(write(tmp_path / "b.jsonl", rows_b))
    r = compare_benchmark(a["dna"], b["dna"])
    assert r["shared"] == 4 and r["left_out_unscored"] == 1 and r["discordant"]["a_only"] == 4


def test_compare_missing_input_is_a_clear_error(tmp_path):
    out = cli("compare", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert out.returncode == 2 and "no judged rows here" in out.stderr
