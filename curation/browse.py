"""pairs/browse.html: every sample of every problem that reached the pairs stage, its verdict
and whether a pair took it as chosen or rejected (ramen/html.py builds the page)."""

from __future__ import annotations

from ramen.html import SAMPLE_TEXTS, dataset, page


def browse_rows(problem: dict, chosen_rejected: list, outcome: str) -> list[dict]:
    """Every sample of one problem as pairs/browse.html shows it: its verdict, and whether a
    pair took it as chosen or rejected (`role`); `outcome` is the problem's (pairs made, or
    why none)."""
    roles = {}
    for chosen, rejected in chosen_rejected:
        roles[chosen["sample_index"]] = "chosen"
        roles[rejected["sample_index"]] = "rejected"
    provenance = problem.get("provenance") or {}
    out = []
    for s in problem["samples"]:
        judge = s.get("judge") or {}
        out.append(
            {
                "problem": str(problem["id"]),
                "question": problem.get("question"),
                "answer": problem.get("answer"),
                "category": problem.get("category"),
                "source": provenance.get("source"),
                "licence": provenance.get("licence"),
                "generator": provenance.get("generator") or "human-written",
                "outcome": outcome,
                "solved": f"{problem.get('correct')} of {problem.get('n')}",
                "sample": s["sample_index"],
                "verdict": s.get("verdict"),
                "method": s.get("method"),
                "role": roles.get(s["sample_index"], "not used"),
                "extracted": s.get("extracted"),
                "reasoning": s.get("reasoning"),
                "content": s.get("content"),
                "judge": judge.get("raw") or judge.get("reasoning"),
                "label": s.get("label"),
                "tokens": s.get("completion_tokens"),
                "finish": s.get("finish_reason"),
            }
        )
    return out


def browse_page(rows: list[dict], name: str) -> str:
    """pairs/browse.html: every selected problem's samples, which became chosen or rejected."""
    data = dataset(
        rows,
        filters=[
            ("source", "source"),
            ("category", "category"),
            ("outcome", "problem outcome"),
            ("verdict", "verdict"),
            ("role", "in a pair as"),
            ("finish", "finish"),
            ("generator", "generator"),
        ],  # fmt: skip
        columns=[
            ("problem", "problem"),
            ("source", "source"),
            ("solved", "correct"),
            ("sample", "sample"),
            ("verdict", "verdict"),
            ("role", "in a pair as"),
            ("extracted", "extracted answer"),
            ("tokens", "tokens"),
            ("finish", "finish"),
        ],  # fmt: skip
        detail=[
            *SAMPLE_TEXTS,
            ("method", "Decided by", False),
            ("judge", "Judge's reply", True),
            ("label", "Rubric label", False),
            ("outcome", "Problem outcome", False),
            ("source", "Source", False),
            ("licence", "Licence", False),
            ("generator", "Generator of the problem", False),
        ],  # fmt: skip
    )
    body = (
        f"<h1>{name}: DPO pairs</h1><p>Every sample of every problem that reached the pairs "
        "stage (select's output), with its verdict and whether a pair took it as chosen or "
        "rejected; the problem's source, licence and generator come from its source row. The "
        "pairs themselves are data.jsonl; rejects.jsonl says why a problem made none.</p>"
    )
    return page(f"{name}: DPO pairs", body, data, "Filter, search, and click a row for its texts.")
