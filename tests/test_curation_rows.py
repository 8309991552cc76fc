"""The row stages of curation on small data, bad rows included: clean, dedup, decontaminate,
balance, and the pure parts of filter / select / pairs / SFT."""

import json
from pathlib import Path

import pytest

from ramen.curation import balance as balance_mod
from ramen.curation.clean import clean
from ramen.curation.decontaminate import decontaminate
from ramen.curation.dedup import dedup, row_keys
from ramen.curation.filter import tier, tier_table
from ramen.curation.pairs import choose_pairs
from ramen.curation.select import band_reason
from ramen.curation.sft import majority_label
from ramen.curation.training_sets import sample_turn
from ramen.errors import RecipeError, UserError
from ramen.launch.recipe import recipe_from_dict
from ramen.mix import quotas
from ramen.stage import StageContext
from ramen.testing import tiny
from ramen.turns import TrainingRenderer, read_turn


def make_recipe(tmp_path: Path, data: dict | None = None, **extra) -> object:
    raw = {
        "name": "t",
        "workdir": str(tmp_path / "runs"),
        "models": {"strong": {"path": "tiny:strong", "max_model_len": 1024}},
        "data": {"sources": [{"path": "x.jsonl", "licence": "mit"}], **(data or {})},
        **extra,
    }
    return recipe_from_dict(raw)


def run_stage(fn, recipe, inputs: dict[str, list[dict]], tmp_path: Path, name: str = "stage"):
    """Run one stage function the way the runner does; returns (kept, rejects, stats)."""
    dirs = {}
    for stage, rows in inputs.items():
        d = tmp_path / "in" / stage
        d.mkdir(parents=True, exist_ok=True)
        (d / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        dirs[stage] = d
    out = tmp_path / name
    out.mkdir(parents=True, exist_ok=True)
    # the stage's config and the recipe as far as it holds it, as the runner gives them
    from ramen.launch.slices import RecipeView, declared_paths
    from ramen.launch.stages import STAGES

    stage = next(s for s in STAGES if s.name in (name, fn.__name__))
    config = stage.config(recipe)
    paths = declared_paths(config)
    ctx = StageContext(
        name=stage.name,
        out_dir=out,
        config=config,
        inputs=dirs,
        seed=recipe.seed,
        recipe=RecipeView(recipe, paths, stage.name),
    )
    ctx.resolve_model = lambda m: str(tiny.model_path(recipe.models[m].path.removeprefix("tiny:")))
    extra = fn(ctx) or {}
    stats = {**ctx.finish(), **extra}
    kept = (
        [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()]
        if (out / "data.jsonl").exists()
        else []
    )
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert (
        stats.get("input_kept", stats["kept"]) + sum(stats["rejected"].values()) == stats["input"]
    )
    assert len(rejects) == sum(stats["rejected"].values())
    return kept, rejects, stats


def problem(i, question, answer="1", category="arithmetic", **kw):
    return {
        "id": f"p{i}",
        "question": question,
        "answer": answer,
        "answer_type": "exactMatch",
        "category": category,
        "source": "x.jsonl",
        "licence": "mit",
        "generator": None,
        "meta": {},
        **kw,
    }


# --------------------------------------------------------------------------- clean


@pytest.mark.slow
def test_clean_drops_each_bad_row_with_its_reason(tmp_path):
    loop = "let me check again " * 40
    rows = [
        problem(0, "What is 1 + 1?", "2"),
        problem(1, "   ", "2"),
        problem(2, "What is 2 + 2?", ""),
        problem(3, "What is 3 + 3?", " N/A "),
        problem(4, "What is caf\u00c3\u00a9?", "6"),  # mojibake
        problem(5, "Broken \ufffd text", "6"),
        problem(6, "Control \x07 char", "6"),
        problem(7, "What is 4 + 4?", "8", reasoning="   "),
        problem(8, "What is 5 + 5?", "10", reasoning=loop),
        problem(9, "word " * 300, "1"),  # 300+ tokens > 256
        problem(10, "What is 6 + 6?", "12", reasoning="6+6=12, since 6 doubled is twelve."),
    ]
    recipe = make_recipe(tmp_path, {"clean": {"max_question_tokens": 256}})
    kept, rejects, stats = run_stage(clean, recipe, {"prepare": rows}, tmp_path)
    assert [r["id"] for r in kept] == ["p0", "p10"]
    reasons = {r["row"]["id"]: r["reason"] for r in rejects}
    assert reasons == {
        "p1": "missing_question",
        "p2": "missing_answer",
        "p3": "placeholder_answer",
        "p4": "broken_text",
        "p5": "broken_text",
        "p6": "broken_text",
        "p7": "blank_reasoning",
        "p8": "repetitive_reasoning",
        "p9": "question_too_long",
    }
    kinds = {r["row"]["id"]: r.get("kind") for r in rejects if r["reason"] == "broken_text"}
    assert kinds == {
        "p4": "mojibake",
        "p5": "replacement_character",
        "p6": "control_character",
    }
    too_long = next(r for r in rejects if r["reason"] == "question_too_long")
    assert too_long["tokens"] > 256 and too_long["limit"] == 256
    assert stats["tokenizer"] == "strong"


@pytest.mark.unit
def test_clean_keeps_answerless_rows_when_asked(tmp_path):
    recipe = make_recipe(tmp_path, {"clean": {"require_answer": False}})
    kept, rejects, _ = run_stage(
        clean,
        recipe,
        {"prepare": [problem(0, "Name a prime.", ""), problem(1, "?", "n/a")]},
        tmp_path,
    )
    assert [r["id"] for r in kept] == ["p0"]
    assert rejects[0]["reason"] == "placeholder_answer"


@pytest.mark.unit
def test_clean_profile_covers_every_row_not_the_first_page(tmp_path):
    # The first 150 rows all say domain=algebra; the rest differ. A first-page viewer would
    # show one value; the profile must show all three, with exact counts.
    rows = []
    for i in range(400):
        domain = "algebra" if i < 150 else ("geometry" if i % 2 else "physics")
        p = problem(i, f"Question number {i}?", str(i), category="maths" if i < 300 else "other")
        p["meta"] = {"domain": domain}
        rows.append(p)
    recipe = make_recipe(tmp_path, {"clean": {"max_question_tokens": None}})
    _, _, stats = run_stage(clean, recipe, {"prepare": rows}, tmp_path)
    profile = stats["profile"]["input"]
    assert profile["rows"] == 400
    assert profile["values"]["meta.domain"] == {"geometry": 125, "physics": 125, "algebra": 150}
    assert profile["values"]["category"] == {"maths": 300, "other": 100}
    assert profile["lengths"]["question_chars"]["p100"] == len("Question number 399?")
    assert profile["lengths"]["question_chars"]["p0"] == len("Question number 0?")


# --------------------------------------------------------------------------- dedup

LONG = (
    "A farmer has a rectangular field whose length is three times its width. He walks "
    "around the whole field once and covers exactly four hundred metres. What is the area "
    "of the field in square metres, and how long is its diagonal?"
)


@pytest.mark.unit
def test_dedup_exact_and_near_keep_the_first_and_name_the_twin(tmp_path):
    rows = [
        problem(0, LONG),
        problem(1, "What is 2 + 3?"),
        problem(2, "  what IS 2 +   3?"),  # exact after normalising case and spaces
        problem(3, LONG + " Explain."),  # near duplicate of p0
        problem(4, "What is 3 + 2?"),  # different problem
    ]
    recipe = make_recipe(tmp_path)
    kept, rejects, _ = run_stage(dedup, recipe, {"clean": rows}, tmp_path)
    assert [r["id"] for r in kept] == ["p0", "p1", "p4"]
    by_id = {r["row"]["id"]: r for r in rejects}
    assert by_id["p2"]["reason"] == "exact_duplicate" and by_id["p2"]["kept_id"] == "p1"
    assert by_id["p3"]["reason"] == "near_duplicate" and by_id["p3"]["kept_id"] == "p0"
    assert 0.85 <= by_id["p3"]["similarity"] <= 1.0


@pytest.mark.unit
def test_dedup_near_can_be_turned_off(tmp_path):
    rows = [problem(0, LONG), problem(1, LONG + " Explain.")]
    recipe = make_recipe(tmp_path, {"dedup": {"near": False}})
    kept, _, _ = run_stage(dedup, recipe, {"clean": rows}, tmp_path)
    assert len(kept) == 2


@pytest.mark.slow
def test_minhash_signatures_are_the_same_in_every_process():
    import concurrent.futures
    import multiprocessing

    texts = [LONG, "What is 2 + 3?", ""]
    here = row_keys(texts, 3, 64)
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as pool:
        there = pool.submit(row_keys, texts, 3, 64).result()
    assert [k for k, _ in here] == [k for k, _ in there]
    assert all((a == b).all() for (_, a), (_, b) in zip(here, there, strict=True))


@pytest.mark.unit
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_near_index_finds_the_candidates_datasketch_lsh_finds(threshold):
    """ramen's lean LSH index and datasketch's MinHashLSH (same bands) propose the same kept
    rows for every query, on questions with planted near-duplicates."""
    import random

    from datasketch import LeanMinHash, MinHash, MinHashLSH

    from ramen.curation.dedup import SEED, NearIndex

    rng = random.Random(threshold)
    words = "find the sum product of prime roots integer circle area angle x y n".split()
    texts = []
    for _ in range(600):
        if texts and rng.random() < 0.3:  # a near-duplicate: one word changed or added
            t = rng.choice(texts).split()
            t[rng.randrange(len(t))] = rng.choice(words)
            texts.append(" ".join(t + ([rng.choice(words)] if rng.random() < 0.5 else [])))
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(8, 20))))
    ours, theirs = NearIndex(threshold, 128), MinHashLSH(threshold=threshold, num_perm=128)
    scheme = MinHash(num_perm=128, seed=SEED).scheme
    found = 0
    for i, (_, values) in enumerate(row_keys(texts, 3, 128)):
        keys = ours.band_keys(values)
        lean = LeanMinHash(seed=SEED, hashvalues=values, scheme=scheme)
        want = {int(k) for k in theirs.query(lean)}
        assert ours.candidates(keys) == want, i
        found += bool(want)
        ours.add(str(i), values, keys)
        theirs.insert(str(i), lean, check_duplication=False)
    assert found >= 10, "the planted near-duplicates were found"


@pytest.mark.slow
def test_dedup_with_worker_processes_matches_one_process(tmp_path, monkeypatch):
    import ramen.curation.parallel as par

    rows = [problem(i, f"{LONG} Variant {i % 300}.") for i in range(1200)]
    recipe = make_recipe(tmp_path)
    monkeypatch.setattr(par, "CHUNK_LINES", 100)
    monkeypatch.setattr(par, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(par, "usable_cores", lambda: 2)
    kept_pool, rejects_pool, _ = run_stage(dedup, recipe, {"clean": rows}, tmp_path / "a")
    monkeypatch.setattr(par, "usable_cores", lambda: 1)
    kept_one, rejects_one, _ = run_stage(dedup, recipe, {"clean": rows}, tmp_path / "b")
    assert kept_pool == kept_one and rejects_pool == rejects_one
    assert len(kept_one) < 300  # the 900 repeats of the 300 variants are gone


# --------------------------------------------------------------------------- decontaminate


@pytest.mark.unit
def test_decontaminate_names_the_benchmark_item(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        json.dumps({"id": "b1", "question": LONG})
        + "\n"
        + json.dumps({"id": "b2", "question": "What is 7 + 8?"})
        + "\n"
    )
    rows = [
        problem(
            0, "Prefix words. " + " ".join(LONG.split()[5:20]) + " and more."
        ),  # 15 words shared
        problem(1, "what is 7 + 8 ?"),  # exact after normalising... only spacing differs
        problem(2, "What is 7 + 9?"),
        problem(3, "An unrelated question about primes below one hundred?"),
    ]
    recipe = make_recipe(tmp_path, {"decontaminate": {"against": [str(bench)], "ngram": 13}})
    kept, rejects, stats = run_stage(decontaminate, recipe, {"dedup": rows}, tmp_path)
    assert [r["id"] for r in kept] == ["p2", "p3"]
    by_id = {r["row"]["id"]: r for r in rejects}
    assert by_id["p0"]["match"] == "ngram" and by_id["p0"]["item_id"] == "b1"
    assert len(by_id["p0"]["ngram"].split()) == 13
    assert by_id["p1"]["item_id"] == "b2" and by_id["p1"]["benchmark"] == "bench"
    assert stats["benchmark_items"] == {"bench": 2}


@pytest.mark.unit
def test_decontaminate_uses_the_evaluation_sections_file(tmp_path):
    recipe = make_recipe(
        tmp_path,
        {"decontaminate": {"against": ["hle"], "ngram": 6}},
        evaluation={
            "benchmarks": [{"name": "hle", "path": "bundled:hle_fixture.jsonl"}],
            "model": "strong",
        },
    )
    hle_q = json.loads(
        Path(__file__)
        .parent.parent.joinpath("ramen/data/hle_fixture.jsonl")
        .read_text()
        .splitlines()[0]
    )
    kept, rejects, stats = run_stage(
        decontaminate,
        recipe,
        {"dedup": [problem(0, hle_q["question"]), problem(1, "Fresh one?")]},
        tmp_path,
    )
    assert [r["id"] for r in kept] == ["p1"]
    assert rejects[0]["benchmark"] == "hle" and rejects[0]["item_id"] == hle_q["id"]
    assert stats["benchmark_items"]["hle"] >= 20  # image rows left out, text rows kept


# --------------------------------------------------------------------------- balance


@pytest.mark.unit
def test_quotas_by_hand():
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    # a allows 200, b allows 100, c allows 250 -> total 100: 50 / 30 / 20
    assert quotas({"a": 100, "b": 30, "c": 50}, shares, None) == {
        "a": 50,
        "b": 30,
        "c": 20,
    }
    # a category with no rows drops out and the rest renormalise (a 5/8, b 3/8)
    assert quotas({"a": 100, "b": 30}, shares, None) == {"a": 50, "b": 30}
    assert quotas({"a": 100, "b": 30, "c": 50}, shares, 10) == {"a": 5, "b": 3, "c": 2}
    assert quotas({}, shares, None) == {}


@pytest.mark.unit
def test_balance_maps_labels_and_downsamples(tmp_path):
    rows = [problem(i, f"Q{i}?", category="Algebra") for i in range(60)]
    rows += [problem(100 + i, f"B{i}?", category="Genetics") for i in range(20)]
    rows += [problem(200 + i, f"C{i}?", category="Cooking") for i in range(5)]
    recipe = make_recipe(
        tmp_path,
        {
            "balance": {
                "shares": {"Math": 0.6, "Biology/Medicine": 0.4},
                "category_map": {"Algebra": "Math", "Genetics": "Biology/Medicine"},
            }
        },
    )
    kept, rejects, stats = run_stage(balance_mod.balance, recipe, {"decontaminate": rows}, tmp_path)
    cats = stats["categories"]
    assert cats["Math"]["before"] == 60 and cats["Math"]["after"] == 30
    assert cats["Biology/Medicine"]["before"] == 20 and cats["Biology/Medicine"]["after"] == 20
    reasons = {}
    for r in rejects:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    assert reasons == {"category_not_in_target": 5, "over_share": 30}
    assert all(r["label"] == "Cooking" for r in rejects if r["reason"] == "category_not_in_target")
    assert {r["category"] for r in kept} == {"Math", "Biology/Medicine"}
    assert all(r["source_category"] in ("Algebra", "Genetics") for r in kept)
    ids = [int(r["id"][1:]) for r in kept]
    assert ids == sorted(ids)  # input order kept
    again, _, _ = run_stage(
        balance_mod.balance, recipe, {"decontaminate": rows}, tmp_path / "again"
    )
    assert again == kept  # same seed, same rows


@pytest.mark.unit
def test_balance_hle_preset_with_a_catch_all(tmp_path):
    rows = [problem(i, f"Q{i}?", category="Geometry") for i in range(10)]
    recipe = make_recipe(tmp_path, {"balance": {"target": "hle", "category_map": {"*": "Math"}}})
    kept, _, stats = run_stage(balance_mod.balance, recipe, {"decontaminate": rows}, tmp_path)
    assert len(kept) == 10
    assert "Physics" in stats["missing_categories"]
    assert sum(balance_mod.PRESETS["hle"].values()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- filter, select


@pytest.mark.unit
def test_difficulty_tiers():
    assert tier(True, True) == "easy"
    assert tier(False, True) == "medium"
    assert tier(False, False) == "hard"
    assert tier(True, False) == "inverted"
    table = tier_table(
        {"a": "easy", "b": "hard", "c": "hard", "d": "inverted"}, dict.fromkeys("abcd", "x")
    )
    assert table["overall"]["hard"] == {"count": 2, "share": 0.5}
    assert table["by_category"]["x"] == {"easy": 1, "medium": 0, "hard": 2, "inverted": 1}


@pytest.mark.unit
def test_band_reasons():
    assert band_reason(0, 4, 1, 3) == "none_correct"
    assert band_reason(4, 4, 1, 3) == "all_correct"
    assert band_reason(2, 4, 1, 3) is None
    assert band_reason(1, 8, 2, 6) == "below_band"
    assert band_reason(7, 8, 2, 6) == "above_band"


# --------------------------------------------------------------------------- pairs, SFT


def sample(i, verdict, tokens, finish="stop", content="Answer: 3", reasoning="1+2=3"):
    return {
        "problem_id": "p",
        "sample_index": i,
        "verdict": verdict,
        "completion_tokens": tokens,
        "finish_reason": finish,
        "content": None if finish == "length" else content,
        "reasoning": reasoning,
        "messages": [{"role": "user", "content": "What is 1 + 2?"}],
    }


def PairsCfg(**kw):  # noqa: N802 - reads as the config it builds
    from ramen.curation.config import PairsConfig

    return PairsConfig(**kw)


@pytest.mark.unit
def test_pairs_never_choose_a_truncated_sample_and_match_lengths():
    prob = {
        "id": "p",
        "samples": [
            sample(0, "correct", 100),
            sample(1, "correct", 500, finish="length"),  # would be correct-looking but truncated
            sample(2, "incorrect", 120),
            sample(3, "incorrect", 900, finish="length"),
        ],
    }
    pairs, why = choose_pairs(prob, PairsCfg(per_problem=5), seed=0)
    assert why is None
    assert all(c["finish_reason"] == "stop" for c, _ in pairs)
    assert [(c["sample_index"], r["sample_index"]) for c, r in pairs] == [(0, 2), (0, 3)]
    pairs, _ = choose_pairs(prob, PairsCfg(allow_truncated_rejected=False), seed=0)
    assert [(c["sample_index"], r["sample_index"]) for c, r in pairs] == [(0, 2)]
    pairs, _ = choose_pairs(prob, PairsCfg(strategy="one"), seed=0)
    assert len(pairs) == 1
    only_truncated = {
        "id": "p",
        "samples": [sample(0, "correct", 5, finish="length"), sample(1, "incorrect", 5)],
    }
    assert choose_pairs(only_truncated, PairsCfg(), 0) == ([], "no_complete_correct_sample")


@pytest.mark.unit
def test_samples_written_identically_make_one_pair_not_one_per_copy():
    right, wrong = ("7+5=12", "Answer: 12"), ("7+5=13", "Answer: 13")
    texts = [right, right, right, wrong, wrong, ("7+5=11", "Answer: 11")]
    prob = {"id": "p", "samples": [
        {**sample(i, "correct" if t == right else "incorrect", 10, reasoning=t[0], content=t[1]),
         "text": f"<think>\n{t[0]}\n</think>\n\n{t[1]}"}
        for i, t in enumerate(texts)
    ]}  # fmt: skip
    pairs, _ = choose_pairs(prob, PairsCfg(per_problem=9), seed=0)
    # three copies of the right answer against two texts of wrong ones: two distinct pairs
    assert [(c["sample_index"], r["sample_index"]) for c, r in pairs] == [(0, 3), (0, 5)]
    pairs, _ = choose_pairs(prob, PairsCfg(per_problem=9, distinct=False), seed=0)
    assert len(pairs) == 9  # every combination of indices: 3 correct x 3 incorrect
    for s in prob["samples"]:  # a server that returned the reasoning and answer split
        del s["text"]
    pairs, _ = choose_pairs(prob, PairsCfg(per_problem=9), seed=0)
    assert [(c["sample_index"], r["sample_index"]) for c, r in pairs] == [(0, 3), (0, 5)]


@pytest.mark.unit
def test_assistant_turn_keeps_reasoning_through_the_template(family):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(family["strong"]))
    s = sample(0, "correct", 10)
    renderer = TrainingRenderer(tok, "strong")
    turn = sample_turn(s)
    assert (
        renderer.completion(s["messages"], turn)
        == "<think>\n1+2=3\n</think>\n\nAnswer: 3<|im_end|>"
    )
    assert read_turn(renderer.message(turn)) == turn
    cut = sample_turn(sample(1, "incorrect", 10, finish="length"))
    assert renderer.completion(s["messages"], cut) == "<think>\n1+2=3"
    # A template that strips the reasoning from assistant turns is refused, not trusted.
    tok.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' %}"
        "{{ m['content'].split('</think>')[-1] }}{% else %}{{ m['content'] }}{% endif %}{% endfor %}"
    )
    with pytest.raises(UserError, match="drops the reasoning"):
        TrainingRenderer(tok, "strong").completion(s["messages"], turn)


@pytest.fixture(scope="module")
def family():
    return {n: tiny.model_path(n) for n in ("strong",)}


@pytest.mark.unit
def test_majority_label():
    rows = [{"extracted": x} for x in ["1/2", "0.5", "\\frac{1}{2}", "0.5", "3"]]
    assert majority_label(rows, 0.8)[0] == "number:1/2"  # 4 of 5 = 0.8 agree
    assert majority_label(rows, 0.9)[0] is None
    tie = [{"extracted": "a"}, {"extracted": "b"}]
    assert majority_label(tie, 0.5)[0] is None
    assert majority_label([{"extracted": None}], 0.5) == (None, 0.0)


# --------------------------------------------------------------------------- recipe checks


@pytest.mark.unit
@pytest.mark.parametrize(
    "curation, where",
    [
        (
            {"sample": {"model": "strong", "n": 4}, "select": {"max_correct": 5}},
            "curation.select.max_correct",
        ),
        (
            {"sample": {"model": "strong", "n": 4}, "select": {"min_correct": 3, "max_correct": 2}},
            "curation.select",
        ),
        ({"filter": {"model": ["strong", "weak"]}}, "curation.filter.model[1]"),
        ({"filter": {"model": "strong", "decide_by": "other"}}, "curation.filter.decide_by"),
    ],
)
def test_bad_curation_values_name_their_key(tmp_path, curation, where):
    with pytest.raises(RecipeError) as e:
        make_recipe(tmp_path, curation=curation)
    assert where in str(e.value)


@pytest.mark.unit
def test_bad_balance_and_decontaminate_values(tmp_path):
    with pytest.raises(RecipeError, match="data.balance"):
        make_recipe(tmp_path, {"balance": {"target": "hle", "shares": {"a": 1.0}}})
    with pytest.raises(RecipeError, match=r"data.decontaminate.against\[0\]"):
        make_recipe(tmp_path, {"decontaminate": {"against": ["no-such-file.jsonl"]}})
    with pytest.raises(RecipeError, match="min_pass_rate"):
        make_recipe(tmp_path, curation={"select": {"min_pass_rate": 0.9, "max_pass_rate": 0.1}})


def graded(pid, i, verdict, extracted, answer="", finish="stop", tokens=10):
    return {
        "problem_id": pid,
        "sample_index": i,
        "model": "strong",
        "messages": [{"role": "user", "content": f"Question {pid}?"}],
        "question": f"Question {pid}?",
        "answer": answer,
        "category": "maths",
        "provenance": {"source": "x.jsonl", "licence": "mit", "generator": None},
        "reasoning": f"thinking about {pid}",
        "content": None if finish == "length" else f"Answer: {extracted}",
        "finish_reason": finish,
        "completion_tokens": tokens,
        "verdict": verdict,
        "method": "rule",
        "extracted": extracted,
    }


@pytest.mark.slow
def test_sft_stage_rejection_sampling_and_majority_vote(tmp_path):
    from ramen.curation.sft import sft

    rows = [
        # no reference: 4 of 5 agree (1/2 in three spellings) -> majority label
        *[graded("a", i, "undecided", x) for i, x in enumerate(["1/2", "0.5", "1/2", "0.5", "3"])],
        # no reference: split votes -> no label
        *[graded("b", i, "undecided", x) for i, x in enumerate(["1", "2", "1", "2"])],
        # reference: one complete correct sample (the other correct one is truncated)
        graded("c", 0, "correct", "7", answer="7"),
        graded("c", 1, "correct", "7", answer="7", finish="length"),
        graded("c", 2, "incorrect", "8", answer="7"),
        # reference: none correct
        graded("d", 0, "incorrect", "1", answer="2"),
    ]
    recipe = make_recipe(
        tmp_path,
        {"clean": {"require_answer": False}},
        curation={"sample": {"model": "strong", "n": 5}, "sft": {"per_problem": 2}},
    )
    kept, rejects, stats = run_stage(sft, recipe, {"grade": rows}, tmp_path, name="sft")
    by_problem = {}
    for r in kept:
        by_problem.setdefault(r["meta"]["problem_id"], []).append(r)
    assert sorted(by_problem) == ["a", "c"]
    assert [r["meta"]["sample_index"] for r in by_problem["a"]] == [0, 1]  # per_problem 2
    assert by_problem["a"][0]["meta"]["label_source"] == "majority"
    assert by_problem["a"][0]["meta"]["agreement"] == 0.8
    assert [r["meta"]["sample_index"] for r in by_problem["c"]] == [0]  # truncated never used
    msgs = by_problem["c"][0]["messages"]
    assert msgs[0]["role"] == "user" and msgs[-1]["reasoning_content"].startswith("thinking")
    assert {r["row"]["id"]: r["reason"] for r in rejects} == {
        "b": "no_majority",
        "d": "none_correct",
    }
    assert stats["label_source"] == {"majority": 1, "reference": 1}
    assert (tmp_path / "sft" / "dataset" / "dataset_info.json").is_file()
    card = (tmp_path / "sft" / "README.md").read_text()
    assert "license: mit" in card and "| maths | 3 |" in card


@pytest.mark.slow
def test_pairs_stage_writes_trl_rows_dataset_and_card(tmp_path):
    from ramen.curation.pairs import pairs
    from ramen.curation.select import problem_group

    samples = [
        graded("a", 0, "correct", "7", answer="7", tokens=30),
        graded("a", 1, "incorrect", "8", answer="7", tokens=31),
        graded("a", 2, "incorrect", "9", answer="7", tokens=80),
        graded("a", 3, "judge_error", "7", answer="7", tokens=30),
    ]
    only_correct = [graded("b", i, "correct", "7", answer="7") for i in range(3)]
    only_correct.append(graded("b", 3, "judge_error", "5", answer="7"))
    recipe = make_recipe(
        tmp_path,
        curation={
            "sample": {"model": "strong", "n": 4},
            "pairs": {"strategy": "all", "per_problem": 1},
        },
    )
    select_rows = [problem_group(samples), problem_group(only_correct)]
    kept, rejects, stats = run_stage(pairs, recipe, {"select": select_rows}, tmp_path, name="pairs")
    assert len(kept) == 1
    row = kept[0]
    assert set(row) == {"prompt", "chosen", "rejected", "meta"}
    assert row["meta"]["chosen_index"] == 0 and row["meta"]["rejected_index"] == 1  # gap 1 < 50
    assert row["chosen"][0] == {  # the shape the model's template reads the reasoning from
        "role": "assistant",
        "content": "Answer: 7",
        "reasoning_content": "thinking about a",
    }
    assert stats["turn_shape"] == "reasoning_content" and stats["template_checked"] == 2
    assert rejects[0]["reason"] == "no_usable_incorrect_sample"  # judge_error is never rejected
    assert stats["input_kept"] == 1 and stats["rows"] == 1
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "pairs" / "dataset"))
    assert ds[0]["chosen"] == row["chosen"]


@pytest.mark.slow
def test_pairs_keep_only_turns_that_render_back_to_the_generated_text(tmp_path):
    """Training = generation, per row: the turn the pairs hold must render (by the sampler's
    own template) to exactly the text the model wrote, plus its end-of-turn token. A model
    that wrote other whitespace around its markers than the template writes is a reject with
    its reason, not a row that trains the model on text it never produced."""
    from ramen.curation.pairs import pairs
    from ramen.curation.select import problem_group

    def written(s, text):
        return {**s, "text": text}

    exact = [  # the tiny strong model's template: the qwen3 layout with reasoning_content
        written(
            graded("a", 0, "correct", "7", answer="7"),
            "<think>\nthinking about a\n</think>\n\nAnswer: 7",
        ),
        written(
            graded("a", 1, "incorrect", "8", answer="7"),
            "<think>\nthinking about a\n</think>\n\nAnswer: 8",
        ),
    ]
    other_spacing = [
        written(
            graded("b", 0, "correct", "7", answer="7"),
            "<think>\nthinking about b\n</think>\n\nAnswer: 7",
        ),
        written(
            graded("b", 1, "incorrect", "8", answer="7"), "<think>thinking about b</think>Answer: 8"
        ),
    ]
    cut = graded("c", 1, "incorrect", "", answer="7", finish="length")
    cut_off = [
        written(
            graded("c", 0, "correct", "7", answer="7"),
            "<think>\nthinking about c\n</think>\n\nAnswer: 7",
        ),
        written(cut, "<think>\nthinking about c"),
    ]
    recipe = make_recipe(
        tmp_path,
        curation={
            "sample": {"model": "strong", "n": 2},
            "pairs": {"strategy": "all", "per_problem": 1, "allow_truncated_rejected": True},
        },
    )
    select_rows = [problem_group(g) for g in (exact, other_spacing, cut_off)]
    kept, rejects, stats = run_stage(pairs, recipe, {"select": select_rows}, tmp_path, name="pairs")
    assert [r["meta"]["problem_id"] for r in kept] == ["a", "c"]
    assert [(r["row"]["id"], r["reason"]) for r in rejects] == [("b", "turn_not_as_generated")]
    assert "the model wrote '<think>thinking about b</think>" in rejects[0]["detail"]
    assert stats["rendered_as_generated"] == 4  # a's two turns, c's finished and cut-off turns

    # a template that renders no sample as generated is the model's problem, said once
    from ramen.errors import UserError

    spaced = [written(s, s["text"].replace("\n", "")) for s in exact]
    with pytest.raises(UserError, match="renders no sample as the model generated it") as e:
        run_stage(pairs, recipe, {"select": [problem_group(spaced)]}, tmp_path / "x", name="pairs")
    assert e.value.where == "models.strong.training_chat_template"


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["clean", "dedup", "decontaminate"])
def test_row_stages_give_the_same_output_on_workers(tmp_path, monkeypatch, stage):
    """Chunks handled by spawned worker processes come back in order: byte-identical files."""
    import ramen.curation.parallel as par

    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "b1", "question": LONG}) + "\n")
    rows = []
    for i in range(900):
        q = f"{LONG} Variant {i % 250}." if i % 3 else f"Question {i}: what is {i} + {i}?"
        if i % 97 == 0:
            q = "word " * 300  # over the token limit: counted exactly by the tokenizer
        r = problem(i, q, answer="n/a" if i % 101 == 0 else str(i), category=f"c{i % 4}")
        if i % 5 == 0:
            r["reasoning"] = "same same same same " * 20 if i % 10 == 0 else f"steps for {i}"
        rows.append(r)
    rows.append(problem(999, LONG))
    recipe = make_recipe(
        tmp_path,
        {
            "clean": {"max_question_tokens": 256},
            "decontaminate": {"against": [str(bench)], "ngram": 13},
        },
    )
    fn = {"clean": clean, "dedup": dedup, "decontaminate": decontaminate}[stage]
    need = {"clean": "prepare", "dedup": "clean", "decontaminate": "dedup"}[stage]
    monkeypatch.setattr(par, "CHUNK_LINES", 64)
    monkeypatch.setattr(par, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(par, "usable_cores", lambda: 2)
    _, _, stats_pool = run_stage(fn, recipe, {need: rows}, tmp_path / "pool", name=stage)
    monkeypatch.setattr(par, "usable_cores", lambda: 1)
    _, _, stats_one = run_stage(fn, recipe, {need: rows}, tmp_path / "one", name=stage)
    for f in ("data.jsonl", "rejects.jsonl"):
        assert (tmp_path / "pool" / stage / f).read_bytes() == (
            tmp_path / "one" / stage / f
        ).read_bytes()
    assert stats_pool == stats_one
    assert sum(stats_one["rejected"].values()) > 0


@pytest.mark.slow
def test_clean_tokenizer_and_reasoning_limit(tmp_path):
    rows = [
        problem(0, "Short?", "1", reasoning="one plus zero is one"),
        problem(1, "Short too?", "1", reasoning=" ".join(f"w{i}" for i in range(400))),
    ]
    recipe = make_recipe(
        tmp_path,
        {"clean": {"tokenizer": "strong", "max_question_tokens": None, "max_reasoning_tokens": 64}},
    )
    kept, rejects, stats = run_stage(clean, recipe, {"prepare": rows}, tmp_path)
    assert [r["id"] for r in kept] == ["p0"]
    assert rejects[0]["reason"] == "reasoning_too_long" and rejects[0]["limit"] == 64
    assert (
        stats["tokenizer"] == "strong" and stats["tokenized_texts"] == 1
    )  # p0 under the byte bound


@pytest.mark.unit
def test_decontaminate_exact_match_can_be_turned_off(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "b", "question": "What is 7 + 8?"}) + "\n")
    cfg = {"decontaminate": {"against": [str(bench)], "ngram": 13, "exact": False}}
    kept, _, _ = run_stage(
        decontaminate, make_recipe(tmp_path, cfg), {"dedup": [problem(0, "what is 7+8?")]}, tmp_path
    )
    assert len(kept) == 1  # shorter than 13 words: only the exact check could catch it


@pytest.mark.unit
def test_pass_rate_band():
    from ramen.curation.config import SelectConfig

    band = SelectConfig(min_pass_rate=0.1, max_pass_rate=0.9).band(8)
    assert band == pytest.approx((0.8, 7.2))
    assert band_reason(0, 8, *band) == "none_correct" and band_reason(1, 8, *band) is None
    assert band_reason(8, 8, *band) == "all_correct" and band_reason(7, 8, *band) is None
    assert SelectConfig().band(4) == (1.0, 3.0)
