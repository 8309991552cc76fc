"""The `pairs` stage: DPO preference pairs in TRL's conversational format (data.jsonl, a
`datasets` folder and a dataset card: curation/training_sets.py), and browse.html, every
sample of every problem with the pair that took it (curation/browse.py).

Pairs: chosen = a correct sample that stopped on its own (a truncated sample is never chosen),
rejected = an incorrect one (a truncated one only if `allow_truncated_rejected`). Strategy
`all` takes up to `per_problem` pairs, `one` takes one; with `length_match` the pairs with the
smallest completion-length gap come first, so DPO does not learn that longer wins. With
`distinct` (the default) a problem's pairs differ in their texts: samples a model wrote
identically (common at low entropy) make one pair, not one per combination of copies.
"""

from __future__ import annotations

import itertools
from typing import Any

from ramen.console import track
from ramen.curation.browse import browse_page, browse_rows
from ramen.curation.model_stages import has_section
from ramen.curation.training_sets import SetWriter, sample_turn, set_config, set_meta
from ramen.io import sha256_text, write_text_atomic
from ramen.stage import StageContext, StageDef
from ramen.turns import RowError, Turn


def _usable_chosen(s: dict) -> bool:
    return (
        s["verdict"] == "correct"
        and s.get("finish_reason") == "stop"
        and bool((s.get("content") or "").strip())
    )


def _usable_rejected(s: dict, allow_truncated: bool) -> bool:
    if s["verdict"] != "incorrect":
        return False
    if s.get("finish_reason") == "stop":
        return True
    return allow_truncated and s.get("finish_reason") == "length"


def choose_pairs(problem: dict, cfg: Any, seed: int) -> tuple[list[tuple[dict, dict]], str | None]:
    """The (chosen, rejected) samples of one problem, or a reason there are none."""
    samples = problem["samples"]
    chosen = [s for s in samples if _usable_chosen(s)]
    rejected = [s for s in samples if _usable_rejected(s, cfg.allow_truncated_rejected)]
    if not chosen:
        return [], "no_complete_correct_sample"
    if not rejected:
        return [], "no_usable_incorrect_sample"
    candidates = list(itertools.product(chosen, rejected))
    if cfg.length_match:
        candidates.sort(
            key=lambda cr: (
                abs(cr[0]["completion_tokens"] - cr[1]["completion_tokens"]),
                cr[0]["sample_index"],
                cr[1]["sample_index"],
            )
        )
    else:  # a seeded order, so the cap does not always favour the first samples
        candidates.sort(
            key=lambda cr: sha256_text(
                f"{seed}:{problem['id']}:{cr[0]['sample_index']}:{cr[1]['sample_index']}"
            )
        )
    if cfg.distinct:  # the first of each (chosen turn, rejected turn) in the order above
        seen: set[tuple[Turn, Turn]] = set()
        unique = []
        for c, r in candidates:
            key = (sample_turn(c), sample_turn(r))
            if key not in seen:
                seen.add(key)
                unique.append((c, r))
        candidates = unique
    limit = 1 if cfg.strategy == "one" else cfg.per_problem
    return candidates[:limit], None


def pairs(ctx: StageContext) -> dict:
    """Stage `pairs`: chosen/rejected pairs from the selected problems."""
    cfg = ctx.recipe.curation.pairs
    out = SetWriter(ctx, "pairs", "TRL conversational preference (prompt / chosen / rejected)")
    gaps: list[int] = []
    browse: list[dict] = []
    for problem in track(ctx.input_rows("select"), "pairs"):
        ctx.count_input()
        chosen_rejected, reason = choose_pairs(problem, cfg, ctx.seed)
        if reason:
            browse += browse_rows(problem, [], reason)
            ctx.reject(
                {k: v for k, v in problem.items() if k != "samples"},
                reason,
                verdicts=problem["verdicts"],
            )
            continue
        rows = []
        try:
            for c, r in chosen_rejected:
                prompt = c["messages"]
                rows.append(
                    {
                        "prompt": prompt,
                        "chosen": out.turn(prompt, c),
                        "rejected": out.turn(prompt, r),
                        "meta": set_meta(
                            problem,
                            model=str(c.get("model")),
                            chosen_index=c["sample_index"],
                            rejected_index=r["sample_index"],
                            chosen_tokens=c["completion_tokens"],
                            rejected_tokens=r["completion_tokens"],
                            rejected_truncated=r.get("finish_reason") == "length",
                            chosen_method=str(c.get("method")),
                            rejected_method=str(r.get("method")),
                            correct=problem["correct"],
                            n=problem["n"],
                        ),
                    }
                )
        except RowError as e:  # the template cannot render a turn as it was generated
            out.discard()
            browse += browse_rows(problem, [], e.reason)  # no pair of it was written
            ctx.reject(
                {k: v for k, v in problem.items() if k != "samples"}, e.reason, detail=str(e)
            )
            continue
        browse += browse_rows(problem, chosen_rejected, f"{len(rows)} pairs")
        ctx.count_kept_input()
        out.problems += 1
        for row in rows:
            gaps.append(row["meta"]["chosen_tokens"] - row["meta"]["rejected_tokens"])
            out.add(row, problem)
    stats = out.finish(cfg.push_to_hub, cfg.private)
    write_text_atomic(ctx.out_dir / "browse.html", browse_page(browse, ctx.recipe.name))
    ctx.add_output("browse.html")
    if gaps:
        stats["length_gap_tokens"] = {
            "mean_chosen_minus_rejected": round(sum(gaps) / len(gaps), 2),
            "mean_abs": round(sum(abs(g) for g in gaps) / len(gaps), 2),
        }
    return stats


STAGE = StageDef(
    name="pairs",
    fn=pairs,
    needs=("select",),
    config=set_config("pairs"),
    enabled=has_section("pairs"),
    help="DPO pairs (TRL prompt/chosen/rejected) + datasets folder + dataset card",
)
