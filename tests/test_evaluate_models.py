"""`evaluation.models` (evaluation/evaluate_models.py): more candidates evaluated like `model`, each
compared with the baseline in the report, McNemar p Holm-corrected over the candidates."""

import json
import math
import re

import pytest
from conftest import cli, ramen

from ramen.evaluation.compare import holm

RECIPE = """
name: many
seed: 0
workdir: {work}/runs
models:
  weak:   {{path: "tiny:weak",   dtype: float32, max_model_len: 1024}}
  strong: {{path: "tiny:strong", dtype: float32, max_model_len: 1024}}
  lax:    {{path: "tiny:lax",    dtype: float32, max_model_len: 1024}}
evaluation:
  model: strong
  baseline: weak
  models: {models}
  samples: 1
  benchmarks:
    - {{name: qa, path: "bundled:heldout.jsonl", label: heldout, limit: 120}}
"""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("models", "says"),
    [
        ("[strong]", "'strong' is evaluated already"),
        ("[lax, lax]", "'lax' is evaluated already"),
        ("[nobody]", "evaluation.models[0]: unknown model 'nobody'"),
    ],
)
def test_bad_candidates_are_one_line(tmp_path, models, says):
    (tmp_path / "r.yaml").write_text(RECIPE.format(work=tmp_path, models=models))
    out = cli("validate", str(tmp_path / "r.yaml"))
    line = out.stderr.strip()
    assert out.returncode == 2 and "\n" not in line and says in line, line


@pytest.mark.unit
def test_candidates_need_a_baseline(tmp_path):
    text = RECIPE.format(work=tmp_path, models="[lax]").replace("  baseline: weak\n", "")
    (tmp_path / "r.yaml").write_text(text)
    out = cli("validate", str(tmp_path / "r.yaml"))
    assert out.returncode == 2 and "set `baseline`" in out.stderr, out.stderr


def _firsts(path):
    rows = [json.loads(x) for x in path.open()]
    return {r["id"]: r["score"] for r in rows if r["sample_index"] == 0}


@pytest.mark.slow
@pytest.mark.timeout(15 * 60)
def test_each_candidate_is_evaluated_and_compared_with_the_baseline(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE.format(work=tmp_path, models="[lax]"))
    ramen("run", str(tmp_path / "r.yaml"), check=True)
    run = tmp_path / "runs" / "many"
    lax = run / "evaluate-models" / "lax"
    assert len(_firsts(lax / "data.jsonl")) == 120
    metrics = json.loads((lax / "metrics.json").read_text())
    assert metrics["model"] == "lax" and metrics["heldout"]["questions"] == 120

    result = json.loads((run / "report" / "compare_many.json").read_text())
    bench = result["benchmarks"]["heldout"]
    assert sorted(bench["candidates"]) == ["lax", "strong"]
    assert "Holm" in result["correction"] and "2 candidates" in result["correction"]
    base = _firsts(run / "evaluate-baseline" / "data.jsonl")
    for name, path in (("strong", run / "evaluate" / "data.jsonl"), ("lax", lax / "data.jsonl")):
        mine = _firsts(path)
        diff = 100 * (sum(mine.values()) - sum(base.values())) / len(base)  # paired, shared ids
        assert bench["candidates"][name]["difference"] == pytest.approx(diff, abs=0.01)
        # McNemar's exact p recounted from the discordant pairs
        b = sum(1 for q in base if mine[q] == 1 and base[q] == 0)
        c = sum(1 for q in base if mine[q] == 0 and base[q] == 1)
        got = bench["candidates"][name]
        assert got["discordant"] == {"a_only": b, "b_only": c}
        exact = min(1.0, 2 * sum(math.comb(b + c, k) for k in range(min(b, c) + 1)) / 2 ** (b + c))
        assert got["mcnemar_p"] == pytest.approx(exact if b + c else 1.0, rel=1e-6)
    raw = [bench["candidates"][n]["mcnemar_p"] for n in ("strong", "lax")]
    assert [bench["candidates"][n]["mcnemar_p_holm"] for n in ("strong", "lax")] == holm(raw)

    report = (run / "report" / "report.md").read_text()
    assert "## Candidates against the baseline" in report and bench["verdict"] in report
    page = (run / "report" / "report.html").read_text()
    data = json.loads(re.search(r'id="samples-data">(.*?)</script>', page, re.S).group(1))
    assert {r["model"] for r in data["rows"]} == {"strong", "weak", "lax"}
