"""`training.data` as a weighted list (issue 20 item 4): the mixed set has the configured
shares, entries without a weight are used whole, `limit` cuts an entry first, the same seed
draws the same rows, and a bad entry is one line naming its key."""

import json
from types import SimpleNamespace

import pytest
from conftest import cli

from ramen.training.config import TrainingStep, uses_curation_data
from ramen.training.stage import check_data, mix_data

pytestmark = pytest.mark.unit


def _sft(path, n: int, tag: str):
    rows = [{"messages": [{"role": "user", "content": f"{tag} question {i}"},
                          {"role": "assistant", "content": f"{tag} answer {i}"}],
             "meta": {"set": tag}} for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _mix(tmp_path, data, seed=0):
    step = TrainingStep(method="sft", data=data)
    out = tmp_path / f"stage-{seed}"
    out.mkdir(exist_ok=True)
    ctx = SimpleNamespace(out_dir=out, recipe=SimpleNamespace(seed=seed))
    recipe = SimpleNamespace(run_dir=tmp_path / "run")
    path, report = mix_data(ctx, step, check_data(recipe, step, 0, {}))
    rows = [json.loads(line) for line in path.open()]
    return rows, report


def test_the_mix_has_the_configured_shares(tmp_path):
    a, b = _sft(tmp_path / "a.jsonl", 90, "a"), _sft(tmp_path / "b.jsonl", 100, "b")
    c = _sft(tmp_path / "c.jsonl", 12, "c")
    data = [{"path": str(a), "weight": 3}, {"path": str(b), "weight": 1},
            {"path": str(c), "limit": 5}]  # fmt: skip
    rows, report = _mix(tmp_path, data)
    sets = [r["meta"]["set"] for r in rows]
    # 90 of a caps the mix: 90 + 30 at 3:1; c unweighted, its first 5 rows
    assert (sets.count("a"), sets.count("b"), sets.count("c")) == (90, 30, 5)
    assert [r["messages"][0]["content"] for r in rows if r["meta"]["set"] == "c"] == [
        f"c question {i}" for i in range(5)
    ]
    labels = list(report)
    assert report[labels[1]] == {"weight": 1.0, "limit": None, "available": 100, "taken": 30}
    assert report[labels[2]]["taken"] == 5 and report[labels[2]]["available"] == 5
    # the same seed draws the same rows of b; another seed others
    again, _ = _mix(tmp_path, data)
    other, _ = _mix(tmp_path, data, seed=1)
    picked = [[r["messages"][0]["content"] for r in x if r["meta"]["set"] == "b"]
              for x in (rows, again, other)]  # fmt: skip
    assert picked[0] == picked[1] and picked[0] != picked[2]


def test_an_entry_without_a_path_is_curations_set(tmp_path):
    run = tmp_path / "run"
    (run / "sft").mkdir(parents=True)
    step = TrainingStep(method="sft", data=[{"weight": 1}, {"path": "missing.jsonl"}])
    with pytest.raises(Exception) as err:
        check_data(SimpleNamespace(run_dir=run), step, 0, {})
    assert "training.data[0].path" in str(err.value) and "curation.sft" in str(err.value)
    assert uses_curation_data(step)


def test_an_empty_mix_exits_2_with_one_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: m\nmodels:\n  base: {path: tiny:strong}\n"
        "training: {method: sft, base: base, data: []}\n"
    )
    out = cli("validate", str(recipe))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "training.data" in lines[0], lines
