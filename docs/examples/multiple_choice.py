"""A worked example of a new benchmark kind (docs/architecture.md): multiple-choice questions
graded by rules alone, no judge. A real kind would live in `ramen/benchmarks/choices.py`;
importing `ramen.benchmarks` imports every module there, so that file is the whole change.
`tests/test_benchmark_kinds.py` loads this file and runs the evaluate stage on it.

A row: `question`, `choices` (a list of option texts) and `answer` (the correct letter). The
model sees the options lettered A, B, ...; a reply's final answer is right when it names the
correct letter, or (option `accept_text`) when it is the correct option's text.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ramen.benchmarks.kind import BenchmarkKind, register
from ramen.benchmarks.plots import plus_minus
from ramen.grading.rules import choice_letter, extract_answer
from ramen.spec import StrictModel
from ramen.stats import wald_half_width

LETTERS = "ABCDEFGHIJ"


class ChoiceOptions(StrictModel):
    """The kind's own keys in its benchmark entry (`{name: choices, accept_text: false}`)."""

    accept_text: bool = Field(
        default=True,
        description="A reply that gives the correct option's text instead of its letter counts "
        "as correct.",
    )


@register
class Choices(BenchmarkKind):
    name = "choices"
    needs_path = True  # no official set: the recipe names a file
    Options = ChoiceOptions

    def reject_reason(self, row: dict) -> str | None:
        choices = row.get("choices")
        ok = isinstance(choices, list) and 2 <= len(choices) <= len(LETTERS)
        return None if ok else "not_2_to_10_choices"  # goes to rejects.jsonl with the row

    def problem(self, row: dict, problem: dict) -> dict:
        lettered = [f"({LETTERS[i]}) {c}" for i, c in enumerate(row["choices"])]
        return {
            **problem,
            "question": problem["question"] + "\n" + "\n".join(lettered),
            "answer": problem["answer"].strip().upper(),
            "answer_type": "multipleChoice",
            "choices": [str(c) for c in row["choices"]],
        }

    def judge(self, ctx, engine, bench, samples):
        rows = []
        for s in samples:
            extracted = extract_answer(s.get("content"))
            letter = choice_letter(extracted) if extracted else None
            right = s["choices"][LETTERS.index(s["answer"])] if s["answer"] in LETTERS else None
            by_text = bench.options.accept_text and extracted is not None and right is not None
            correct = letter == s["answer"] or (by_text and extracted.strip() == right.strip())
            rows.append({
                "benchmark": s["benchmark"], "id": s["source_id"],
                "sample_index": s["sample_index"], "category": s["category"],
                "question": s["question"], "answer": s["answer"], "content": s.get("content"),
                "extracted": extracted, "correct": correct, "score": int(correct),
                "finish_reason": s["finish_reason"],
            })  # fmt: skip
        return rows

    def metrics(self, rows, n, questions):
        first = [r for r in rows if r["sample_index"] == 0]
        accuracy = round(100 * sum(r["score"] for r in first) / len(first), 2) if first else 0.0
        return {
            "kind": self.name,
            "questions": questions,
            "n": len(first),
            "accuracy": accuracy,
            "ci95_half_width": wald_half_width(accuracy, len(first)),
            "no_answer_rate": round(
                100 * sum(r["extracted"] is None for r in rows) / len(rows), 2
            ) if rows else 0.0,
        }  # fmt: skip

    def summary(self, stage, key, m):
        return [f"{stage} {key}: accuracy {plus_minus(m)} (first sample, n {m['n']})"]

    def report(self, key, runs, rows, source, plots_dir: Path):
        names = list(runs)
        out = [f"## {key}", "", "| metric | " + " | ".join(names) + " |",
               "|---|" + "---|" * len(names),
               "| accuracy | " + " | ".join(plus_minus(runs[n][key]) for n in names) + " |",
               "| no answer (all samples) | "
               + " | ".join(f"{runs[n][key]['no_answer_rate']:.2f}%" for n in names) + " |",
               "", "Source: " + "; ".join(f"{n}: `{source[n]}`" for n in names), ""]  # fmt: skip
        return out, []
