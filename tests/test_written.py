"""Model-written problems (curation/written.py): a writer drafts, a solver's majority labels.

The unit tests check the pieces a model does not decide (the draft text, the seeded prompts,
the recipe checks, the provenance gate on written rows); the slow test runs the real tiny
writer and solver under vLLM and recounts every label from the solver's answers with a vote
written here.
"""

import json
from collections import Counter
from fractions import Fraction

import pytest
from conftest import cli, ramen

from ramen.bundled import DATA_DIR
from ramen.curation.config import DataConfig, SourceSpec
from ramen.curation.prepare import to_problem
from ramen.curation.written import draft_text, plan_drafts, read_seeds
from ramen.errors import UserError

# ----------------------------------------------------------------------------- the draft


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reply", "draft"),
    [
        ("Problem: What is 3 + 4?", "What is 3 + 4?"),
        ("**Problem:** Solve for x:  x + 2 = 9", "Solve for x: x + 2 = 9"),
        ("Here is one.\nProblem: What is 12 mod 5?\n", "What is 12 mod 5?"),
        # the last label wins (a writer that restates its examples first)
        ("Problem: What is 1 + 1?\nproblem: What is 7 - 2?", "What is 7 - 2?"),
        ("What is 6 + 6?", "What is 6 + 6?"),  # no label: the whole reply
        ("Problem:   ", None),
        ("", None),
        (None, None),
        # a label inside a sentence is not a label
        (
            "The problem: none. Problem: How many divisors has 12?",
            "The problem: none. Problem: How many divisors has 12?",
        ),
    ],
)
def test_the_draft_is_the_text_after_the_last_problem_label(reply, draft):
    assert draft_text(reply) == draft


SEEDS = [
    {"question": f"What is {a} + {b}?", "category": "arithmetic"}
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]
] + [
    {"question": f"What is {a} mod {m}?", "category": "number_theory"}
    for a, m in [(10, 3), (11, 4)]
]


def _spec(tmp_path, **written):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in SEEDS))
    return SourceSpec.model_validate(
        {
            "written": {"writer": "w", "solver": "s", "count": 6, "seeds": str(seeds), **written},
            "licence": "cc0-1.0",
        }  # fmt: skip
    )


@pytest.mark.unit
def test_drafts_spread_over_categories_with_seeded_examples_of_their_own_category(tmp_path):
    src = _spec(tmp_path, shots=2)
    seeds = read_seeds(src.written.seeds, "here")
    drafts = plan_drafts(src.written, src.label, seeds, 0, "here")
    assert Counter(d["category"] for d in drafts) == {"arithmetic": 3, "number_theory": 3}
    for d in drafts:
        assert len(d["shown"]) == 2 and set(d["shown"]) <= set(seeds[d["category"]])
        for q in d["shown"]:
            assert f"Problem: {q}" in d["question"]
        assert d["category"] in d["question"] and "{examples}" not in d["question"]
    assert drafts == plan_drafts(src.written, src.label, seeds, 0, "here")  # same seed
    other = plan_drafts(src.written, src.label, seeds, 1, "here")
    assert [d["shown"] for d in other] != [d["shown"] for d in drafts]
    assert len({d["id"] for d in drafts}) == len(drafts)


@pytest.mark.unit
def test_a_category_without_seeds_is_a_one_line_error(tmp_path):
    src = _spec(tmp_path, categories=["geometry"])
    seeds = read_seeds(src.written.seeds, "here")
    with pytest.raises(UserError, match="no seed problem of category 'geometry'"):
        plan_drafts(src.written, src.label, seeds, 0, "data.sources[0].written")


@pytest.mark.unit
def test_written_rows_pass_the_provenance_gate_like_any_source(tmp_path):
    src = _spec(tmp_path)
    row = {"id": "w-1", "question": "What is 2 + 9?", "answer": "11", "category": "arithmetic",
           "licence": "cc0-1.0", "generator": "Qwen/Qwen3-235B-A22B-Instruct-2507",
           "meta": {"written": {"writer": "w", "agreement": 0.8}}}  # fmt: skip
    problem, why = to_problem(row, src, DataConfig(sources=[src], forbid_generators=["gpt"]))
    assert why is None and problem["generator"] == row["generator"]
    assert problem["meta"]["written"]["agreement"] == 0.8
    _, why = to_problem(row, src, DataConfig(sources=[src], forbid_generators=["qwen"]))
    assert why == "forbidden_generator"
    _, why = to_problem(row, src, DataConfig(sources=[src], allow_licences=["mit"]))
    assert why == "licence_not_allowed"


# ----------------------------------------------------------------------------- recipe checks

RECIPE = """
name: w
models:
  writer: {{path: "{writer}", dtype: float32, max_model_len: 1024, enable_thinking: false}}
  strong: {{path: "tiny:strong", dtype: float32, max_model_len: 1024}}
data:
  sources:
    - {source}
  forbid_generators: [gpt, claude]
"""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("writer", "source", "where", "says"),
    [
        ("tiny:writer", '{written: {writer: writr, solver: strong, count: 4, seeds: "bundled:problems.jsonl"}, licence: mit}',
         "data.sources[0].written.writer", "did you mean 'writer'"),
        ("tiny:writer", '{written: {writer: writer, solver: nobody, count: 4, seeds: "bundled:problems.jsonl"}, licence: mit}',
         "data.sources[0].written.solver", "unknown model 'nobody'"),
        ("openai/gpt-oss-120b", '{written: {writer: writer, solver: strong, count: 4, seeds: "bundled:problems.jsonl"}, licence: apache-2.0}',
         "data.sources[0].written.writer", "matches data.forbid_generators ('gpt')"),
        ("tiny:writer", '{written: {writer: writer, solver: strong, count: 4, seeds: "bundled:problems.jsonl"}}',
         "data.sources[0]", "`licence` is required for written problems"),
        ("tiny:writer", '{written: {writer: writer, solver: strong, count: 4, seeds: "bundled:problems.jsonl"}, path: x.jsonl, licence: mit}',
         "data.sources[0]", "got path and written"),
        ("tiny:writer", '{written: {writer: writer, solver: strong, count: 4, seeds: "bundled:problems.jsonl", agreement: 0.5}, licence: mit}',
         "data.sources[0].written.agreement", "greater than 0.5"),
        ("tiny:writer", '{written: {writer: writer, solver: strong, count: 4, seeds: "bundled:problems.jsonl", prompt: judge_hle.txt}, licence: mit}',
         "data.sources[0].written.prompt", "lacks {category}"),
    ],
)  # fmt: skip
def test_a_bad_written_source_exits_2_with_one_line(tmp_path, writer, source, where, says):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(writer=writer, source=source))
    out = cli("validate", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and where in line and says in line, line


# ----------------------------------------------------------------------------- real models

RUN = """
name: written
seed: 0
models:
  writer: {path: "tiny:writer", dtype: float32, max_model_len: 1024, enable_thinking: false}
  strong: {path: "tiny:strong", dtype: float32, max_model_len: 1024}
data:
  sources:
    - written: {writer: writer, solver: strong, count: 30, seeds: "bundled:problems.jsonl",
                categories: [arithmetic, number_theory], samples: 4, agreement: 0.75}
      licence: cc0-1.0
    - {path: "bundled:problems.jsonl", licence: cc0-1.0, limit: 40}
  clean: {max_question_tokens: 256}
  dedup: {threshold: 0.9}
  decontaminate: {against: ["bundled:heldout.jsonl"], ngram: 13}
"""


def _rows(path):
    return [json.loads(line) for line in path.open()] if path.exists() else []


def _value(answer):
    try:
        return Fraction(answer.strip())
    except (ValueError, ZeroDivisionError):
        return " ".join(answer.lower().split())


@pytest.mark.slow
@pytest.mark.timeout(20 * 60)
def test_the_tiny_writer_drafts_problems_that_the_vote_labels(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RUN)
    ramen("run", str(recipe), f"workdir={tmp_path / 'runs'}", "--stages",
          "models,write,prepare,clean,dedup,decontaminate", check=True)  # fmt: skip
    run = tmp_path / "runs" / "written"
    write = run / "write"
    kept, rejects = _rows(write / "data.jsonl"), _rows(write / "rejects.jsonl")
    stats = json.loads((write / "stats.json").read_text())
    assert stats["input"] == 30 and len(kept) + len(rejects) == 30  # every draft accounted for
    assert {r["reason"] for r in rejects} <= {
        "draft_truncated",
        "draft_empty",
        "copies_a_seed",
        "duplicate_draft",
        "no_majority",
    }
    assert kept, f"no draft was labelled: {Counter(r['reason'] for r in rejects)}"
    # the writer writes problems of the asked category, shaped like its seeds
    seeds = read_seeds("bundled:problems.jsonl", "here")
    asked = {"arithmetic": "What is", "number_theory": "mod"}
    shaped = [r for r in kept if asked[r["category"]] in r["question"]]
    assert len(shaped) >= 0.8 * len(kept), [r["question"] for r in kept]
    seed_questions = {" ".join(q.lower().split()) for qs in seeds.values() for q in qs}
    assert not {" ".join(r["question"].lower().split()) for r in kept} & seed_questions
    # each label recounted from the solver's answers: a strict 3-of-4 majority of equal values
    ballots = {b["draft"]: b for b in _rows(write / "votes.jsonl")}
    for row in kept:
        b = ballots[row["meta"]["written"]["draft"]]
        values = Counter(_value(a) for a in b["answers"] if a is not None)
        top, count = values.most_common(1)[0]
        assert count >= 3 and _value(row["answer"]) == top, (row, b)
        assert row["generator"] == "tiny:writer" and row["licence"] == "cc0-1.0"
    for r in rejects:
        if r["reason"] == "no_majority":
            b = ballots[r["row"]["id"]]
            values = Counter(_value(a) for a in b["answers"] if a is not None)
            assert not values or values.most_common(1)[0][1] < 3, b
    # the written rows then go through the pipeline's own gates like any source's
    prepared = _rows(run / "prepare" / "data.jsonl")
    label = "written:writer:arithmetic+number_theory@2"
    assert sum(p["source"] == label for p in prepared) == len(kept)
    assert all(p["generator"] == "tiny:writer" for p in prepared if p["source"] == label)
    for stage in ("dedup", "decontaminate"):
        seen = _rows(run / stage / "data.jsonl") + [
            r["row"] for r in _rows(run / stage / "rejects.jsonl")
        ]
        assert sum(r.get("source") == label for r in seen) > 0, stage
    # the writer learnt from the tiny family's training pool, which the held-out set comes from:
    # a draft that repeats a held-out question is caught by decontamination, never trained on
    heldout = {" ".join(json.loads(x)["question"].lower().split())
               for x in open(DATA_DIR / "heldout.jsonl")}  # fmt: skip
    clean = _rows(run / "decontaminate" / "data.jsonl")
    assert not {" ".join(r["question"].lower().split()) for r in clean} & heldout
    # rerun: nothing is drafted or labelled again
    again = ramen(
        "run", str(recipe), f"workdir={tmp_path / 'runs'}", "--stages", "write", check=True
    )
    assert "write" in again.stdout + again.stderr
    assert _rows(write / "data.jsonl") == kept
