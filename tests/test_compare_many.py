"""`ramen compare BASE CAND1 CAND2 ...`: several candidates against one base, Holm-corrected,
with the questions only one model solved and those every model missed."""

import json

import pytest
from conftest import cli

from ramen.evaluation.compare import compare_many
from ramen.stats import holm, mcnemar_exact

pytestmark = pytest.mark.unit


def test_holm_adjusts_step_down():
    # m = 4: sorted p 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04,
    # then non-decreasing in that order: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 0.8 x 2 capped at 1; then monotone
    assert holm([]) == []


def _write(path, right: list[bool], cats: list[str]):
    path.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "category": c, "correct": "yes" if r else "no"}) + "\n"
            for i, (r, c) in enumerate(zip(right, cats, strict=True))
        )
    )
    return path


N = 200


def _runs(tmp_path):
    cats = ["maths" if i % 2 else "physics" for i in range(N)]
    base = [i < 80 for i in range(N)]  # 80 right
    same = list(base)  # no difference
    # 15 questions only it solves, 5 only the base does: McNemar p = 0.041 alone, but as the
    # second smallest of three p-values Holm multiplies it by 2 (0.083): no win after correction
    border = [(i < 75) or (100 <= i < 115) for i in range(N)]
    strong = [(i < 80) or (100 <= i < 140) for i in range(N)]  # 40 more right, none fewer
    paths = [
        _write(tmp_path / f"{n}.jsonl", r, cats)
        for n, r in [("base", base), ("same", same), ("border", border), ("strong", strong)]
    ]
    return paths, {"base": base, "same": same, "border": border, "strong": strong}, cats


def test_only_a_candidate_that_survives_the_correction_beats_the_base(tmp_path):
    paths, _, _ = _runs(tmp_path)
    names = ["base", "same", "border", "strong"]
    # the borderline candidate alone, against the base: McNemar says p < 0.05
    assert mcnemar_exact(15, 5) < 0.05
    alone = compare_many(paths[0], [paths[2]], names=["base", "border"])
    assert alone["benchmarks"]["all"]["candidates"]["border"]["mcnemar_p"] < 0.05
    result = compare_many(paths[0], paths[1:], names=names)
    bench = result["benchmarks"]["all"]
    got = bench["candidates"]
    assert got["strong"]["difference"] == pytest.approx(20.0)
    # strong's p is the smallest (x3), border's the second (x2), same's (1.0) the last
    p_strong, p_border = got["strong"]["mcnemar_p"], got["border"]["mcnemar_p"]
    assert got["border"]["mcnemar_p_holm"] == pytest.approx(max(3 * p_strong, 2 * p_border))
    assert got["border"]["mcnemar_p_holm"] > 0.05 and not got["border"]["distinguishable"]
    assert got["strong"]["distinguishable"] and got["strong"]["mcnemar_p_holm"] < 0.05
    assert got["same"]["difference"] == 0 and got["same"]["mcnemar_p_holm"] == 1.0
    assert bench["verdict"] == "strong beats base at 5% after Holm correction over 3 candidates."
    assert "Holm" in result["correction"] and "Bonferroni" in result["correction"]
    assert got["strong"]["ci_level"] == pytest.approx(1 - 0.05 / 3)


def test_no_winner_is_said_plainly(tmp_path):
    paths, _, _ = _runs(tmp_path)
    result = compare_many(paths[0], [paths[1], paths[2]], names=["base", "same", "border"])
    assert result["benchmarks"]["all"]["verdict"] == (
        "no candidate beats base at 5% after Holm correction over 2 candidates."
    )


def test_questions_one_model_solved_and_all_missed_by_category(tmp_path):
    paths, right, cats = _runs(tmp_path)
    names = list(right)
    bench = compare_many(paths[0], paths[1:], names=names)["benchmarks"]["all"]
    for name in names:
        want: dict[str, list[str]] = {}
        for i in range(N):
            if right[name][i] and not any(right[o][i] for o in names if o != name):
                want.setdefault(cats[i], []).append(f"q{i}")
        assert bench["only_one_solved"][name] == {c: sorted(v) for c, v in sorted(want.items())}
    missed = [i for i in range(N) if not any(right[n][i] for n in names)]
    assert sum(len(v) for v in bench["all_missed"].values()) == len(missed)
    assert bench["only_one_solved"]["strong"]  # 115-139: solved by strong alone


def test_the_cli_compares_several_runs_and_names_the_correction(tmp_path):
    paths, _, _ = _runs(tmp_path)
    out = cli("compare", *map(str, paths), "--names", "base,same,border,strong", check=True)
    assert "strong beats base at 5% after Holm correction over 3 candidates" in out.stdout
    assert "only strong solved:" in out.stdout and "every model missed:" in out.stdout
    js = cli("compare", *map(str, paths), "--json", check=True)
    assert set(json.loads(js.stdout)["benchmarks"]["all"]["candidates"]) == set(map(str, paths[1:]))
    bad = cli("compare", *map(str, paths), "--names", "a,b")
    assert bad.returncode == 2 and "4 names" in bad.stderr
    two = cli("compare", str(paths[3]), str(paths[0]), "--json", check=True)  # A against B
    assert json.loads(two.stdout)["benchmarks"]["all"]["difference"] == pytest.approx(20.0)
