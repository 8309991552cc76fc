"""Auditing the judge: a stratified sample of its verdicts for a person to label, and the
agreement (and Cohen's kappa) between the judge and those labels (`ramen grade --audit N`,
then `ramen grade --score-audit FILE`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from ramen.errors import UserError
from ramen.grading.grader import final_content, row_key
from ramen.io import iter_jsonl, write_jsonl_atomic

LABELS = {"correct": "correct", "yes": "correct", "incorrect": "incorrect", "no": "incorrect"}


def write_audit(graded: Sequence[dict], n: int, path: Path, seed: int = 0) -> int:
    """A stratified sample of judged rows for a person to label (`human_label`: correct or
    incorrect). Strata are the judge's verdicts, sampled in proportion with at least one
    each, so a rare verdict is still checked."""
    strata: dict[str, list[dict]] = {}
    for row in graded:
        if row.get("method") == "judge" and row["verdict"] in ("correct", "incorrect"):
            strata.setdefault(row["verdict"], []).append(row)
    total = sum(len(v) for v in strata.values())
    if total == 0:
        raise UserError("no judged rows to audit (run with a judge)", where="--audit")
    rng = random.Random(seed)
    chosen: list[dict] = []
    for _, items in sorted(strata.items()):
        take = min(len(items), max(1, round(n * len(items) / total)))
        chosen += rng.sample(items, take)
    rng.shuffle(chosen)
    rows = [
        {
            "problem_id": row_key(r)[0],
            "sample_index": row_key(r)[1],
            "question": r["question"],
            "reference": r.get("answer"),
            "response": final_content(r),
            "judge_extracted": r.get("extracted"),
            "judge_verdict": r["verdict"],
            "human_label": None,
        }
        for r in chosen[:n]
    ]
    return write_jsonl_atomic(path, rows)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when undefined (one class only
    and both agree on it everywhere)."""
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    classes = set(a) | set(b)
    pe = sum((a.count(c) / n) * (b.count(c) / n) for c in classes)
    if pe == 1.0:
        return None
    return (po - pe) / (1 - pe)


def score_audit(path: Path) -> dict:
    """Agreement between the judge and a person's labels in an audit file."""
    judge_labels, human_labels, unlabelled = [], [], 0
    for i, row in enumerate(iter_jsonl(path), start=1):
        label = row.get("human_label")
        if label in (None, ""):
            unlabelled += 1
            continue
        norm = LABELS.get(str(label).strip().lower())
        if norm is None:
            raise UserError(
                f"line {i}: human_label '{label}' is not one of correct, incorrect, yes, no",
                where=str(path),
            )
        judge_labels.append(row["judge_verdict"])
        human_labels.append(norm)
    n = len(human_labels)
    if n == 0:
        raise UserError("no row has a human_label yet; fill them in first", where=str(path))
    agree = sum(x == y for x, y in zip(judge_labels, human_labels, strict=True))
    return {
        "labelled": n,
        "unlabelled": unlabelled,
        "agreement": agree / n,
        "kappa": cohen_kappa(judge_labels, human_labels),
        "judge_said_correct_human_incorrect": sum(
            j == "correct" and h == "incorrect"
            for j, h in zip(judge_labels, human_labels, strict=True)
        ),
        "judge_said_incorrect_human_correct": sum(
            j == "incorrect" and h == "correct"
            for j, h in zip(judge_labels, human_labels, strict=True)
        ),
    }
