"""The `decontaminate` stage: drop candidate problems that overlap an evaluation set.

A candidate is contaminated when its normalised question equals a benchmark question (exact),
or when it shares one word n-gram (default n = 13) with a benchmark question. Each reject
names the benchmark, the item id and the matching n-gram.

`data.decontaminate.against` lists benchmark names or files. A name that the recipe's
evaluation section lists with a local file uses that file, so the data is checked against the
same items the run evaluates on; other names load the official hub set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ramen.benchmarks import KINDS, kind
from ramen.benchmarks.kind import benchmark_questions
from ramen.bundled import resolve_bundled
from ramen.console import track
from ramen.curation.parallel import map_chunks
from ramen.curation.text import ngram_tuples, words
from ramen.io import hash_file
from ramen.stage import StageContext, StageDef, dump


def resolve_against(recipe: Any) -> list[tuple[str, str | None]]:
    """(label, local path or None for the hub) for each `against` entry: an evaluated
    benchmark's question files (`BenchmarkKind.question_files`), a kind's official set, or a
    file. A label that names a kind is read as that kind (its hub set, its row filter)."""
    evaluated = {}
    if recipe.evaluation is not None:
        evaluated = {b.name: b for b in recipe.evaluation.benchmarks}
    out = []
    for entry in recipe.data.decontaminate.against:
        if entry in evaluated:
            spec = evaluated[entry]
            out += kind(entry).question_files(spec)
        elif entry in KINDS and KINDS[entry].hub is not None:
            out.append((entry, None))
        else:
            out.append((Path(resolve_bundled(entry)).stem, entry))
    return out


class Index:
    """Benchmark questions by normalised text and by word n-gram."""

    def __init__(self, n: int):
        self.n = n
        self.exact: dict[str, tuple[str, str]] = {}
        self.grams: dict[tuple[str, ...], tuple[str, str]] = {}
        self.items = 0

    def add(self, benchmark: str, item_id: str, question: str) -> None:
        self.items += 1
        tokens = words(question)
        self.exact.setdefault(" ".join(tokens), (benchmark, item_id))
        for gram in ngram_tuples(tokens, self.n):
            self.grams.setdefault(gram, (benchmark, item_id))

    def match(self, question: str, exact: bool = True) -> dict | None:
        tokens = words(question)
        if exact:
            hit = self.exact.get(" ".join(tokens))  # the normalised text
            if hit is not None:
                return {"benchmark": hit[0], "item_id": hit[1], "match": "exact"}
        grams = self.grams
        for gram in ngram_tuples(tokens, self.n):
            hit = grams.get(gram)
            if hit is not None:
                return {
                    "benchmark": hit[0],
                    "item_id": hit[1],
                    "match": "ngram",
                    "ngram": " ".join(gram),
                }
        return None


# the decontaminate stage's config: resolve_against's answer, with each file's hash
AGAINST_KEY = "evaluation set files"


def build_index(against: list[dict], ngram: int) -> tuple[Index, dict[str, int]]:
    """The index of the benchmark questions of `against` (the stage config's AGAINST_KEY)."""
    index, sizes = Index(ngram), {}
    for entry in against:
        name, path = entry["name"], entry["path"]
        before = index.items
        for item_id, question in benchmark_questions(KINDS.get(name), path):
            index.add(name, item_id, question)
        sizes[name] = index.items - before
    return index, sizes


_INDEX: dict[str, Any] = {}


def _init(index: Index, exact: bool) -> None:
    _INDEX.update(index=index, exact=exact)


def _match_chunk(lines: list[str]) -> list[tuple[str, dict | None]]:
    index, exact = _INDEX["index"], _INDEX["exact"]
    out = []
    for line in lines:
        question = json.loads(line)["question"]
        out.append((line, index.match(question, exact=exact) if index.items else None))
    return out


def decontaminate(ctx: StageContext) -> dict:
    """Stage `decontaminate`: drop questions that overlap the evaluation sets."""
    cfg = ctx.recipe.data.decontaminate
    index, sizes = build_index(ctx.config[AGAINST_KEY], cfg.ngram)
    by_benchmark: dict[str, int] = {}
    chunks = map_chunks(
        ctx.inputs["dedup"] / "data.jsonl",
        _match_chunk,
        initializer=_init,
        initargs=(index, cfg.exact),
    )
    for chunk in track(chunks, "decontaminate (chunks)"):
        for line, hit in chunk:
            ctx.count_input()
            if hit is not None:
                by_benchmark[hit["benchmark"]] = by_benchmark.get(hit["benchmark"], 0) + 1
                ctx.reject(json.loads(line), "contaminated", **hit)
                continue
            ctx.keep_line(line)
    return {
        "benchmark_items": sizes,
        "ngram": cfg.ngram,
        "contaminated_by_benchmark": by_benchmark,
    }


def _config(r: Any) -> dict:
    against = [
        {"name": name, "path": path, "sha256": hash_file(resolve_bundled(path)) if path else None}
        for name, path in resolve_against(r)
    ]
    return {"data.decontaminate": dump(r.data.decontaminate), AGAINST_KEY: against}


STAGE = StageDef(
    name="decontaminate",
    fn=decontaminate,
    needs=("dedup",),
    config=_config,
    enabled=lambda r: r.data is not None,
    help="drop questions that overlap the evaluation sets (exact or word n-gram)",
)
