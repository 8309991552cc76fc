"""HLE's official metrics against hand-computed examples, through `ramen metrics --json`."""

import json

import pytest
from conftest import cli

from ramen.benchmarks.metrics import calibration_error, hle_metrics

pytestmark = pytest.mark.unit


def write(tmp_path, rows, name="judged.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def run_metrics(path):
    out = cli("metrics", "--input", str(path), "--json", check=True)
    return json.loads(out.stdout)


def test_small_set_by_hand(tmp_path):
    rows = [
        {"id": "a", "category": "Math", "correct": "yes", "confidence": 90},
        {"id": "b", "category": "Math", "correct": "no", "confidence": 80},
        {"id": "c", "category": "Physics", "correct": True, "confidence": 100},
        {"id": "d", "category": "Physics", "correct": None, "confidence": None},  # not judged
    ]
    m = run_metrics(write(tmp_path, rows))
    assert m["n"] == 4 and m["judged"] == 3 and m["correct"] == 2
    assert m["accuracy"] == 50.0  # 100 * 2 / 4: the missing judgement counts as wrong
    assert m["ci95_half_width"] == 49.0  # 1.96 * sqrt(50 * 50 / 4) = 1.96 * 25
    assert m["accuracy_judged"] == 66.67  # the competition fork's variant, labelled
    assert m["calibration_error"] == 0.0  # under 100 items there is no counted bin
    assert m["by_category"]["Math"]["accuracy"] == 50.0
    assert m["by_category"]["Physics"] == {
        "n": 2,
        "judged": 1,
        "correct": 1,
        "accuracy": 50.0,
        "ci95_half_width": 69.3,  # 1.96 * sqrt(50 * 50 / 2) = 69.296...
        "calibration_error": 0.0,
        "accuracy_judged": 100.0,
    }


def test_calibration_bins_as_upstream(tmp_path):
    # 250 items: bins [0,100) and [100,250) (the last stretched); upstream's loop stops before
    # the last bin, so only the 100 lowest-confidence items count. They say 30% and are 60%
    # right: sqrt(100/250 * 0.3^2) = 0.1897 -> round 0.19 -> 19.0.
    rows = [
        {"id": f"low{i}", "category": "Math", "correct": i < 60, "confidence": 30}
        for i in range(100)
    ]
    rows += [
        {"id": f"high{i}", "category": "Math", "correct": True, "confidence": 90}
        for i in range(150)
    ]
    m = run_metrics(write(tmp_path, rows))
    assert m["calibration_error"] == 19.0
    assert m["accuracy"] == 84.0  # 210 / 250
    assert m["ci95_half_width"] == 4.54  # 1.96 * sqrt(84 * 16 / 250) = 4.5445...


@pytest.mark.parametrize("n, counted", [(99, False), (100, False), (199, False), (200, True)])
def test_calibration_edges(n, counted):
    # Items alternate right/wrong at confidence 0.8; the first counted bin (if any) is off by
    # 0.3, weighted by 100 / n.
    conf = [0.8] * n
    correct = [i % 2 == 0 for i in range(n)]
    got = calibration_error(conf, correct)
    if not counted:
        assert got == 0.0  # one bin (stretched, never counted) or none
    else:
        assert round(got, 2) == round((100 / n * 0.3**2) ** 0.5, 2) == 0.21


def test_bad_rows_are_rejected_with_reasons(tmp_path):
    rows = [
        {"id": "a", "category": "Math", "correct": "yes", "confidence": 50},
        {"id": "a", "category": "Math", "correct": "no", "confidence": 50},
        {"id": "b", "category": "Math", "correct": "maybe", "confidence": 50},
        {"id": "c", "category": "Math", "correct": "yes", "confidence": 150},
        {"category": "Math", "correct": "yes", "confidence": 10},
        '{"id": "torn", ',
    ]
    path = write(tmp_path, rows)
    m = run_metrics(path)
    assert m["n"] == 1 and m["accuracy"] == 100.0
    assert m["rejected"] == {
        "confidence_out_of_range": 1,
        "correct_not_yes_no": 1,
        "duplicate_id": 1,
        "invalid_json": 1,
        "missing_id": 1,
    }
    rejects = (tmp_path / "judged.metrics-rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 5


def test_metrics_function_matches_cli(tmp_path):
    rows = [
        {"id": str(i), "category": "X", "correct": i % 3 == 0, "confidence": i % 101}
        for i in range(300)
    ]
    assert (
        hle_metrics(rows)["calibration_error"]
        == run_metrics(write(tmp_path, rows))["calibration_error"]
    )
