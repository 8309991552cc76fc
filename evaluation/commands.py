"""What `ramen generate` and `ramen grade` do, on files: read rows (bad ones to a rejects file
beside the output, with reasons), run the engine or the grader resumably, write atomically."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ramen.errors import UserError
from ramen.grading.audit import write_audit
from ramen.grading.grader import JudgeMode, check_row, grade_rows, row_key
from ramen.grading.judge import Judge, check_prompt, default_prompt
from ramen.inference.sampling import (
    PROBLEM_KEEP,
    EngineTarget,
    expected_keys,
    generate_to_store,
    problem_requests,
)
from ramen.inference.sampling_params import resolved_for
from ramen.inference.store import Shard, ordered_samples
from ramen.io import hash_file, jsonl_records, write_jsonl_atomic
from ramen.spec import ModelSpec


def sidecar(output: Path, suffix: str) -> Path:
    """OUT.jsonl -> OUT.<suffix> beside it (rejects, parts, audit)."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.{suffix}")


def read_rows(path: Path, check, rejects_path: Path, key=None) -> tuple[list[dict], Counter]:
    """Good rows of a JSONL file; every bad one goes to `rejects_path` with its reason.

    With `key`, a row whose key an earlier row already has is a `duplicate_key` reject.
    """
    if not path.is_file():
        raise UserError(f"no such file: {path}", where="--input")
    rows, rejects, reasons, seen = [], [], Counter(), set()
    for row, reason, detail in jsonl_records(path):
        if row is not None:
            reason = check(row)
            detail = row
            if not reason and key is not None:
                reason = "duplicate_key" if key(row) in seen else None
                seen.add(key(row))
        if reason:
            rejects.append({"reason": reason, "row": detail})
            reasons[reason] += 1
        else:
            rows.append(row)
    write_jsonl_atomic(rejects_path, rejects)
    return rows, reasons


def _check_problem(row: dict) -> str | None:
    if row.get("id") in (None, ""):
        return "missing_id"
    if not isinstance(row.get("question"), str) or not row["question"].strip():
        return "missing_question"
    return None


def _problem_key(row: dict) -> str:
    return str(row["id"])


def generate_file(
    spec: ModelSpec,
    path: str,
    name: str,
    input_path: Path,
    output_path: Path,
    *,
    n: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int | None = None,
    seed: int = 0,
    shard: Shard | None = None,
    system_prompt: str | None = None,
    force: bool = False,
    knobs: dict | None = None,
) -> dict:
    """Sample n answers per problem of a JSONL file, resumably, by the rules the stages use
    (`generate_to_store`): a changed question redoes its samples; changed settings stop with
    an error unless `force`. Returns stats."""
    shard = shard or Shard()
    unique, reasons = read_rows(
        input_path, _check_problem, sidecar(output_path, "rejects.jsonl"), key=_problem_key
    )
    parts = sidecar(output_path, "parts")
    settings = {
        "model": name,
        "spec": spec.model_dump(mode="json"),
        "n": n,
        "temperature": temperature,
        "top_p": top_p,
        "sampling": resolved_for(spec, path, knobs or {}),
        "max_tokens": max_tokens,
        "seed": seed,
        "system_prompt": system_prompt,
    }
    mine = problem_requests(
        shard.select(unique),
        n=n,
        seed=seed,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        system_prompt=system_prompt,
        knobs=knobs,
    )
    stats = generate_to_store(
        mine,
        parts,
        settings=settings,
        engine=EngineTarget(spec, path, name, seed, parts),
        description=f"sampling {name}",
        who="generate",
        shard=shard,
        reset=force,
    )
    stats["rejected"] = dict(reasons)
    if shard.count == 1:
        stats["written"] = _write_samples(unique, n, parts, output_path)
    return stats


def _write_samples(problems: list[dict], n: int, parts: Path, output_path: Path) -> int:
    """The stored samples in input order, with their problem's current fields (a corrected
    reference answer rides along; the question is the one the sample answered)."""
    by_id = {str(p["id"]): p for p in problems}
    return write_jsonl_atomic(
        output_path,
        (
            {
                **s,
                **{
                    k: by_id[s["problem_id"]][k]
                    for k in PROBLEM_KEEP
                    if k in by_id[s["problem_id"]]
                },
            }
            for s in ordered_samples(parts, expected_keys(problems, n))
        ),
    )


def merge_file(input_path: Path, output_path: Path, n: int) -> int:
    """Merge the shard files of a sharded `ramen generate` into the final file, in input order."""
    problems, _ = read_rows(
        input_path, _check_problem, sidecar(output_path, "rejects.jsonl"), key=_problem_key
    )
    return _write_samples(problems, n, sidecar(output_path, "parts"), output_path)


def grade_file(
    input_path: Path,
    output_path: Path,
    *,
    judge_engine=None,
    judge_name: str | None = None,
    mode: JudgeMode = "undecided",
    prompt: str | None = None,
    judge_format: str = "hle",
    retries: int = 2,
    workers: int = 1,
    audit: int = 0,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Grade a JSONL of responses (rules, then the judge); returns stats."""
    rows, reasons = read_rows(
        input_path, check_row, sidecar(output_path, "rejects.jsonl"), key=row_key
    )
    judge = None
    if judge_engine is not None:
        template = prompt if prompt is not None else default_prompt(judge_format)
        check_prompt(template, "--judge-prompt")
        judge = Judge(judge_engine, template, fmt=judge_format, retries=retries, seed=seed)
    settings = {
        "judge": judge_name,
        "prompt": judge.template if judge else None,
        "format": judge_format if judge else None,
        "retries": retries,
        "mode": mode,
        "input_sha256": hash_file(input_path),
    }
    graded, stats = grade_rows(
        rows,
        judge=judge,
        mode=mode,
        parts_dir=sidecar(output_path, "judge-parts"),
        settings=settings,
        reset=force,
        workers=workers,
    )
    write_jsonl_atomic(output_path, graded)
    stats["rejected"] = dict(reasons)
    if audit:
        audit_path = sidecar(output_path, "audit.jsonl")
        stats["audit_rows"] = write_audit(graded, audit, audit_path, seed=seed)
        stats["audit_file"] = str(audit_path)
    return stats
