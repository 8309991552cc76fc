"""`recipes/tiny-synthetic.yaml` end to end on the tiny family (issue 20): SymPy and
model-written problems, safety prompts and benign look-alikes; maths and safety pairs, one
mixed SFT set, SFT, and an evaluation whose Do-Not-Answer section has a safety rate and an
over-refusal rate from parsed labels.

Every claim is recounted from the rows: the written problems' labels from the solver's answers,
the safety verdicts from the judge's labels, the pairs' and SFT rows' kinds from the graded
samples they came from, the rates from the labelled rows."""

import json
import shutil
from collections import Counter

import pytest
from conftest import ROOT, ramen

from ramen.curation.safety import REFUSALS, safety_verdict
from ramen.grading.safety import HARMFUL, UNPARSABLE

pytestmark = pytest.mark.e2e

WRITTEN = "written:writer:arithmetic+algebra+number_theory@2"


def _rows(path):
    return [json.loads(line) for line in path.open()] if path.exists() else []


# session scope: pytest-xdist may run another module's tests between this module's on one
# worker, and a module fixture would then run the whole recipe again (CI of 2737220 did)
@pytest.fixture(scope="session")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny-synthetic")
    shutil.copy(ROOT / "recipes" / "tiny-synthetic.yaml", work / "r.yaml")
    ramen("run", "r.yaml", f"workdir={work / 'runs'}", cwd=work, check=True)
    return work / "runs" / "tiny-synthetic"


@pytest.mark.timeout(30 * 60)
def test_every_source_reaches_the_sets_with_its_provenance(run):
    prepared = _rows(run / "prepare" / "data.jsonl")
    by_source = Counter(p["source"] for p in prepared)
    assert set(by_source) == {
        "synthetic:arithmetic.expression+number_theory.gcd_lcm@1",
        WRITTEN,
        "bundled:problems.jsonl",
        "bundled:safety_prompts.jsonl",
        "bundled:benign_prompts.jsonl",
    }, by_source
    gen = {p["source"]: p["generator"] for p in prepared}
    assert (
        gen[WRITTEN] == "tiny:writer"
        and gen[next(s for s in gen if s.startswith("synthetic"))] == "sympy"
    )
    # the written rows are the write stage's, and each label is the solver's majority
    written = _rows(run / "write" / "data.jsonl")
    assert by_source[WRITTEN] == len(written) > 0
    ballots = {b["draft"]: b for b in _rows(run / "write" / "votes.jsonl")}
    for row in written:
        b = ballots[row["meta"]["written"]["draft"]]
        answers = Counter(a.strip() for a in b["answers"] if a is not None)
        top, count = answers.most_common(1)[0]
        assert count >= 4 and row["answer"] == top, (row, b)  # 0.66 of 6 samples
    # the cards count rows per source, and name generator and licence
    for name in ("pairs", "sft"):
        card = (run / name / "README.md").read_text()
        for source in ("bundled:safety_prompts.jsonl", "bundled:problems.jsonl"):
            assert source in card, (name, source)
        assert "cc0-1.0" in card
        # the written source's rows are the writer's, labelled by the solver; both are named
        assert f"| {WRITTEN} | cc0-1.0 | tiny:writer (labelled by strong) |" in card
        assert "| problem writer (writer, data.sources[1]) | tiny:writer |" in card
        assert "| write | 60 |" in card  # the write stage's counts in the per-stage table


@pytest.mark.timeout(30 * 60)
def test_safety_pairs_never_choose_a_harmful_reply_and_always_reject_one(run):
    graded = _rows(run / "grade" / "data.jsonl")
    safety = [g for g in graded if g["answer_type"] in ("safety", "benign")]
    assert len(safety) == 4 * (20 + 10)  # every prompt's 4 samples
    for g in safety:
        if g["method"] == "safety:no_answer":
            assert g["verdict"] == "undecided" and not (g.get("content") or "").strip()
            continue
        assert g["method"] == "safety_judge"
        assert g["verdict"] == safety_verdict(g["answer_type"], g["label"])
    labelled = [g for g in safety if g["method"] == "safety_judge" and g["label"] != UNPARSABLE]
    harmful = [g["label"] for g in labelled if g["answer_type"] == "safety"]
    benign = [g["label"] for g in labelled if g["answer_type"] == "benign"]
    stats = json.loads((run / "grade" / "stats.json").read_text())["safety"]
    assert stats["safety"]["safety_rate"] == round(
        100 * sum(x != HARMFUL for x in harmful) / len(harmful), 2
    )
    assert stats["benign"]["over_refusal_rate"] == round(
        100 * sum(x in REFUSALS for x in benign) / len(benign), 2
    )
    # the lax sampler follows some requests and refuses others: both labels occur
    assert HARMFUL in harmful and any(x != HARMFUL for x in harmful), Counter(harmful)

    by_key = {(g["problem_id"], g["sample_index"]): g for g in graded}
    kinds = Counter()
    for p in _rows(run / "pairs" / "data.jsonl"):
        meta = p["meta"]
        chosen = by_key[(meta["problem_id"], meta["chosen_index"])]
        rejected = by_key[(meta["problem_id"], meta["rejected_index"])]
        kinds[chosen["answer_type"]] += 1
        if chosen["answer_type"] == "safety":
            assert chosen["label"] != HARMFUL and rejected["label"] == HARMFUL
        elif chosen["answer_type"] == "benign":
            assert chosen["label"] not in REFUSALS and rejected["label"] in REFUSALS
        else:
            assert chosen["verdict"] == "correct" and rejected["verdict"] == "incorrect"
    assert kinds["safety"] > 0 and kinds["exactMatch"] > 0, kinds  # maths and safety pairs

    sft = _rows(run / "sft" / "data.jsonl")
    sources = Counter()
    for row in sft:
        meta = row["meta"]
        sample = by_key[(meta["problem_id"], meta["sample_index"])]
        assert sample["verdict"] == "correct"
        sources[meta["label_source"]] += 1
        if sample["answer_type"] in ("safety", "benign"):
            assert meta["label_source"] == "safety_judge"
    assert sources["safety_judge"] > 0 and sources["reference"] > 0, sources  # a mixed SFT set


@pytest.mark.timeout(30 * 60)
def test_the_report_has_a_safety_rate_and_an_over_refusal_rate_from_parsed_labels(run):
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())["do_not_answer"]
    rows = [r for r in _rows(run / "evaluate" / "data.jsonl") if r["benchmark"] == "do_not_answer"]
    look_alikes = [r for r in rows if r.get("benign")]
    assert len(look_alikes) == 10 and len(rows) == 30  # 20 items, 10 look-alikes, 1 sample each
    assert metrics["n"] == 20 and metrics["over_refusal"]["n"] == 10
    parsed = [r["label"] for r in look_alikes if r["label"] != UNPARSABLE]
    assert parsed, "the judge parsed no look-alike reply"
    assert metrics["over_refusal"]["over_refusal_rate"] == round(
        100 * sum(x in REFUSALS for x in parsed) / len(parsed), 2
    )
    assert all(r["score"] is None for r in look_alikes)  # never in the safety comparison
    report = (run / "report" / "report.md").read_text()
    assert "over-refusal rate (benign look-alikes refused" in report
    assert "safety rate (labelled responses)" in report
