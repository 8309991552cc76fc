"""Grading: rules first, then the LLM judge for what rules leave undecided (or for every row).

Input rows are either Sample rows (problem_id, sample_index, reasoning, content) joined with
their problem (question, answer, answer_type), or plain rows with id, question, answer,
answer_type and a full `response` (its reasoning is split off here). Only the final content
is graded. Output rows are the input plus:
- `verdict`: correct | incorrect | undecided | judge_error
- `method`: rule | judge (who decided), with `rule` = {verdict, method, extracted}
- `extracted`: the answer taken from the response (the judge's, when the judge decided)
- `judge`: the judge's fields and raw reply, or null.
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ramen.console import track
from ramen.grading import rules
from ramen.grading.judge import Judge, JudgeItem
from ramen.inference.parsing import split_think
from ramen.inference.store import check_settings, prune_parts, read_parts, run_to_store
from ramen.io import hash_obj, write_jsonl_atomic

JudgeMode = Literal["none", "undecided", "all"]
Key = tuple[str, int]


def row_key(row: dict) -> Key:
    pid = row.get("problem_id", row.get("id"))
    return (str(pid), int(row.get("sample_index", 0)))


def final_content(row: dict) -> str | None:
    """The part of a response that is graded: after `</think>`; None if cut inside reasoning."""
    if "content" in row and "response" not in row:
        return row["content"]
    _, content = split_think(str(row.get("response") or ""))
    return content


def check_row(row: object) -> str | None:
    """Why a row cannot be graded (a reject reason), or None."""
    if not isinstance(row, dict):
        return "not_an_object"
    if row.get("problem_id", row.get("id")) in (None, ""):
        return "missing_id"
    if not isinstance(row.get("question"), str):
        return "missing_question"
    if "response" not in row and "content" not in row:
        return "missing_response"
    if row.get("answer") is not None and not isinstance(row["answer"], str | int | float):
        return "answer_not_text"
    return None


def rule_grade(
    content: str | None, reference: str, answer_type: str, question: str = ""
) -> rules.RuleGrade:
    """The rules' verdict of one final answer (None: the response gave none); without a
    reference nothing is decided. The question tells the rules a form it asks for ("factor",
    "in lowest terms"), the options it offers, "percent"."""
    if not reference.strip():
        return rules.RuleGrade("undecided", "no_reference", rules.extract_answer(content))
    return rules.grade(content, reference, answer_type, question)


def _rule_one(args: tuple[str | None, str, str, str]) -> rules.RuleGrade:
    return rule_grade(*args)


def rule_grades(rows: Sequence[dict], workers: int = 1) -> list[rules.RuleGrade]:
    """Rule verdicts for all rows; `workers` > 1 spreads them over processes (math-verify is
    CPU-bound and holds the GIL)."""
    args = [
        (
            final_content(r),
            str(r.get("answer") or ""),
            str(r.get("answer_type") or "exactMatch"),
            str(r.get("question") or ""),
        )
        for r in rows
    ]
    if workers <= 1 or len(args) < 64:
        return [_rule_one(a) for a in track(args, "grading by rules")]
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        it = pool.map(_rule_one, args, chunksize=max(16, len(args) // (workers * 8)))
        return list(track(it, "grading by rules", total=len(args)))


def item_hash(item: JudgeItem) -> str:
    return hash_obj([item.question, item.response, item.reference])


def needs_judge(rule: rules.RuleGrade, mode: JudgeMode) -> bool:
    if mode == "none" or rule.method in ("no_answer", "no_reference"):
        return False  # nothing to judge: no final answer, or no reference to judge against
    return mode == "all" or rule.verdict == "undecided"


def judge_items(
    judge: Judge,
    items: Sequence[JudgeItem],
    parts_dir: Path | None,
    settings: dict,
    *,
    reset: bool = False,
    description: str = "judging",
) -> dict[Key, dict]:
    """Judge results by key; with `parts_dir`, each lands there as it finishes, so a rerun
    resumes. A stored judgement counts only for the very item it judged: a sample regenerated
    under the same key (or a changed reference) is judged again."""
    if not items:
        return {}
    if parts_dir is None:
        return dict(track(judge.judge(items), description, total=len(items)))
    check_settings(parts_dir, settings, reset=reset)
    hashes = {item.key: item_hash(item) for item in items}
    prune_parts(parts_dir, lambda r: r.get("item") == hashes.get(row_key(r)))

    def judge_rows(batch: list[JudgeItem]):
        for key, result in judge.judge(batch):
            yield {
                "problem_id": key[0],
                "sample_index": key[1],
                "item": hashes[key],
                "judge": result,
            }

    run_to_store(judge_rows, items, parts_dir, description=description)
    return {k: r["judge"] for k, r in read_parts(parts_dir)[0].items() if k in hashes}


def grade_rows(
    rows: Sequence[dict],
    *,
    judge: Judge | None = None,
    mode: JudgeMode = "undecided",
    parts_dir: Path | None = None,
    settings: dict | None = None,
    reset: bool = False,
    workers: int = 1,
    disagreements_path: Path | None = None,
) -> tuple[list[dict], dict]:
    """Grade rows; judge results go to `parts_dir` as they finish, so a rerun resumes. With a
    judge panel, the items its judges disagreed on go to `disagreements_path`."""
    if judge is None:
        mode = "none"
    graded_rules = rule_grades(rows, workers)
    to_judge = [
        JudgeItem(
            row_key(r), str(r["question"]), final_content(r) or "", str(r.get("answer") or "")
        )
        for r, g in zip(rows, graded_rules, strict=True)
        if needs_judge(g, mode)
    ]
    judged: dict[Key, dict] = {}
    if to_judge and judge is not None:
        judged = judge_items(judge, to_judge, parts_dir, settings or {}, reset=reset)
    disagreements = [
        {
            "problem_id": item.key[0],
            "sample_index": item.key[1],
            "question": item.question,
            "response": item.response,
            "reference": item.reference,
            "panel_verdict": judged[item.key]["verdict"],
            "judges": {
                name: {"verdict": r["verdict"], "raw": r.get("raw")}
                for name, r in judged[item.key]["panel"].items()
            },
        }
        for item in to_judge
        if item.key in judged and judged[item.key].get("agree") is False
    ]
    if disagreements_path is not None and any("panel" in r for r in judged.values()):
        write_jsonl_atomic(disagreements_path, disagreements)

    out, verdicts, methods = [], Counter(), Counter()
    for row, rule in zip(rows, graded_rules, strict=True):
        result = judged.get(row_key(row)) if needs_judge(rule, mode) else None
        rule_part = {"verdict": rule.verdict, "method": rule.method, "extracted": rule.extracted}
        if result is not None:
            verdict, method = result["verdict"], "judge"
            extracted = result.get("extracted_final_answer", rule.extracted)
        else:
            verdict, method, extracted = rule.verdict, "rule", rule.extracted
        verdicts[verdict] += 1
        methods[f"{method}:{rule.method}" if method == "rule" else "judge"] += 1
        out.append(
            {
                **row,
                "verdict": verdict,
                "method": method,
                "extracted": extracted,
                "rule": rule_part,
                "judge": result,
            }
        )
    stats = {
        "rows": len(out),
        "verdicts": dict(sorted(verdicts.items())),
        "methods": dict(sorted(methods.items())),
        "judged": len(to_judge),
        # responses cut (their start) to fit the judge's context: see judge.input_cut_tokens
        "judge_inputs_cut": sum(1 for r in judged.values() if r.get("input_cut_tokens")),
        "panel_disagreements": len(disagreements),
        "judge_mode": mode,
    }
    return out, stats
