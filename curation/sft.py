"""The `sft` stage: an SFT set in TRL's `messages` format (data.jsonl, a `datasets` folder and
a dataset card: curation/training_sets.py).

Rejection sampling keeps up to `per_problem` correct, complete samples per problem. A
problem without a reference answer gets a pseudo-label by majority vote over the grader's
normalised answers when at least `majority_threshold` of its samples agree.
"""

from __future__ import annotations

from collections import Counter

from ramen.console import track
from ramen.curation.model_stages import group_by_problem, has_section
from ramen.curation.training_sets import SetWriter, set_config, set_meta
from ramen.grading.rules import vote_key
from ramen.stage import StageContext, StageDef
from ramen.turns import RowError


def majority_label(samples: list[dict], threshold: float) -> tuple[str | None, float]:
    """The answer at least `threshold` of all samples agree on (by the grader's normal form),
    and the agreement; ties and weak majorities give None."""
    votes = Counter(vote_key(s.get("extracted")) for s in samples)
    votes.pop(None, None)
    if not votes:
        return None, 0.0
    (top, count), *rest = votes.most_common()
    share = count / len(samples)
    if rest and rest[0][1] == count:
        return None, share
    return (top if share >= threshold else None), share


def sft(ctx: StageContext) -> dict:
    """Stage `sft`: rejection-sampled correct samples (majority vote where no reference)."""
    cfg = ctx.recipe.curation.sft
    out = SetWriter(ctx, "sft", "TRL conversational (messages)")
    labels: Counter = Counter()
    for samples in group_by_problem(track(ctx.input_rows("grade"), "sft")):
        ctx.count_input()
        first = samples[0]
        problem = {
            "id": str(first["problem_id"]),
            "category": first.get("category"),
            "provenance": first.get("provenance"),
        }
        has_reference = bool(str(first.get("answer") or "").strip())
        agreement = None
        if first.get("answer_type") in ("safety", "benign"):  # the safety judge's verdicts
            good = [s for s in samples if s["verdict"] == "correct"]
            label_source = "safety_judge"
        elif has_reference:
            good = [s for s in samples if s["verdict"] == "correct"]
            label_source = "reference"
        else:
            label, agreement = majority_label(samples, cfg.majority_threshold)
            if label is None:
                ctx.reject(
                    {"id": problem["id"], "question": first.get("question")},
                    "no_majority",
                    agreement=round(agreement, 4),
                    threshold=cfg.majority_threshold,
                )
                continue
            good = [s for s in samples if vote_key(s.get("extracted")) == label]
            label_source = "majority"
        complete = [
            s for s in good if s.get("finish_reason") == "stop" and (s.get("content") or "").strip()
        ]
        if not complete:
            ctx.reject(
                {"id": problem["id"], "question": first.get("question")},
                "none_correct" if not good else "correct_samples_all_truncated",
                verdicts=dict(Counter(s["verdict"] for s in samples)),
            )
            continue
        try:
            rows = [
                {
                    "messages": [*s["messages"], *out.turn(s["messages"], s)],
                    "meta": set_meta(
                        problem,
                        model=str(s.get("model")),
                        sample_index=s["sample_index"],
                        tokens=s["completion_tokens"],
                        label_source=label_source,
                        agreement=None if agreement is None else round(agreement, 4),
                    ),
                }
                for s in complete[: cfg.per_problem]
            ]
        except RowError as e:  # the template cannot render a turn as it was generated
            out.discard()
            ctx.reject(
                {"id": problem["id"], "question": first.get("question")}, e.reason, detail=str(e)
            )
            continue
        ctx.count_kept_input()
        out.problems += 1
        labels[label_source] += 1
        for row in rows:
            out.add(row, problem)
    stats = out.finish(cfg.push_to_hub, cfg.private)
    stats["label_source"] = dict(labels)
    return stats


STAGE = StageDef(
    name="sft",
    fn=sft,
    needs=("grade",),
    config=set_config("sft"),
    enabled=has_section("sft"),
    help="SFT set by rejection sampling (majority vote without a reference) + card",
)
