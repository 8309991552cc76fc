"""Row-stage throughput: clean + dedup + decontaminate on synthetic rows, through the real
stage runner (JSONL in and out, rejects, stats, manifests), against a set of benchmark
questions. Goal (issue 4): >= 10k rows/s on 2 cores for 200k rows and 2.5k questions.

Rows look like distilled maths data: a 20-70 word question, an answer, a 60-150 word
reasoning trace. 4% are exact duplicates (case/space variants), 4% near-duplicates (one word
added), 1% copy a benchmark question, 1% are bad (placeholder answer, looping reasoning).
Lengths are counted with the tiny model's tokenizer (built offline on first use).

    .venv/bin/python benchmarks/curation_rows.py
    .venv/bin/python benchmarks/curation_rows.py --rows 20000 --questions 500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = (
    "integer prime triangle circle radius angle sum product sequence series limit function "
    "derivative integral matrix vector probability expected value coin dice graph vertex edge "
    "polynomial root coefficient modulo remainder divisor factor square cube area volume "
    "perimeter ratio fraction decimal digit base number real complex positive negative even odd"
).split()
FILLER = (
    "find the let be and of in a with such that what is how many if for all there exists".split()
)


def question(rng: random.Random) -> str:
    n = rng.randint(20, 70)
    words = [rng.choice(WORDS if rng.random() < 0.5 else FILLER) for _ in range(n)]
    words += [str(rng.randint(2, 10_000)) for _ in range(3)]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "?"


def reasoning(rng: random.Random) -> str:
    return " ".join(
        rng.choice(WORDS + FILLER) + ("," if rng.random() < 0.1 else "")
        for _ in range(rng.randint(60, 150))
    )


def make_rows(n: int, bench: list[str], seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        r = rng.random()
        if r < 0.04 and rows:
            q = "  " + rng.choice(rows)["question"].upper() + " "
        elif r < 0.08 and rows:
            q = rng.choice(rows)["question"] + " Explain."
        elif r < 0.09:
            q = rng.choice(bench)
        else:
            q = question(rng)
        row = {
            "id": f"r{i}",
            "question": q,
            "answer": str(rng.randint(0, 1000)),
            "reasoning": reasoning(rng),
            "category": rng.choice(["algebra", "geometry", "number theory", "combinatorics"]),
        }
        if rng.random() < 0.005:
            row["answer"] = "n/a"
        if rng.random() < 0.005:
            row["reasoning"] = "wait let me recompute " * 30
        rows.append(row)
    return rows


def rows_recipe(name: str, folder: Path) -> dict:
    """The row stages' recipe over `folder`/rows.jsonl, decontaminated against bench.jsonl."""
    return {
        "name": name,
        "workdir": str(folder / "runs"),
        "models": {"strong": {"path": "tiny:strong"}},
        "data": {
            "sources": [
                {
                    "path": str(folder / "rows.jsonl"),
                    "licence": "mit",
                    "fields": {"reasoning": "reasoning"},
                }  # fmt: skip
            ],
            "clean": {"max_question_tokens": 512},
            "decontaminate": {"against": [str(folder / "bench.jsonl")], "ngram": 13},
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--questions", type=int, default=2_500)
    args = ap.parse_args()
    os.environ.setdefault("RAMEN_NO_PROGRESS", "1")

    from ramen.launch.recipe import recipe_from_dict
    from ramen.launch.runner import Runner, read_manifest
    from ramen.launch.stages import STAGES

    rng = random.Random(1)
    bench = [question(rng) for _ in range(args.questions)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "bench.jsonl").write_text(
            "".join(json.dumps({"id": f"b{i}", "question": q}) + "\n" for i, q in enumerate(bench))
        )
        rows = make_rows(args.rows, bench)
        (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        recipe = recipe_from_dict(rows_recipe("bench", tmp_path))
        stages = ["clean", "dedup", "decontaminate"]
        Runner(recipe, STAGES).run(only=["models", "prepare"])
        Runner(recipe, STAGES).run(only=stages)
        seconds, counts = {}, {}
        for stage in stages:
            manifest = read_manifest(recipe.run_dir / stage)
            stats = json.loads((recipe.run_dir / stage / "stats.json").read_text())
            seconds[stage] = manifest["duration_s"]
            counts[stage] = (stats["input"], stats["kept"], stats["rejected"])
    total = sum(seconds.values())
    print()
    for stage in stages:
        n_in, kept, rejected = counts[stage]
        print(
            f"{stage:14s} {n_in:>8,} in  {kept:>8,} kept  {seconds[stage]:7.2f} s  "
            f"{n_in / seconds[stage]:>9,.0f} rows/s  dropped {rejected}"
        )
    print(
        f"clean + dedup + decontaminate: {args.rows:,} rows against {args.questions:,} questions "
        f"in {total:.2f} s = {args.rows / total:,.0f} rows/s ({os.cpu_count()} cores)"
    )
    print(
        f"reproduce: .venv/bin/python benchmarks/curation_rows.py --rows {args.rows} "
        f"--questions {args.questions}"
    )


if __name__ == "__main__":
    main()
