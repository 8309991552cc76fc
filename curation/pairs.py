"""The `pairs` stage: DPO preference pairs in TRL's conversational format, and the `sft` stage:
an SFT set in TRL's `messages` format. Both write data.jsonl, a `datasets` folder (`dataset/`,
load it with `datasets.load_from_disk`) and a dataset card (README.md) beside them.

Pairs: chosen = a correct sample that stopped on its own (a truncated sample is never chosen),
rejected = an incorrect one (a truncated one only if `allow_truncated_rejected`). Strategy
`all` takes up to `per_problem` pairs, `one` takes one; with `length_match` the pairs with the
smallest completion-length gap come first, so DPO does not learn that longer wins. With
`distinct` (the default) a problem's pairs differ in their texts: samples a model wrote
identically (common at low entropy) make one pair, not one per combination of copies.

SFT: rejection sampling keeps up to `per_problem` correct, complete samples per problem. A
problem without a reference answer gets a pseudo-label by majority vote over the grader's
normalised answers when at least `majority_threshold` of its samples agree.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from ramen.console import err_console, track
from ramen.curation.cards import model_roles, write_card, written_models
from ramen.curation.clean import load_tokenizer
from ramen.curation.generation import group_by_problem
from ramen.errors import UserError
from ramen.grading.rules import vote_key
from ramen.html import SAMPLE_TEXTS, dataset, page
from ramen.io import atomic_dir, iter_jsonl, sha256_text, write_text_atomic
from ramen.stage import (
    EARLIER_ROUNDS_KEY,
    StageContext,
    StageDef,
    dump,
    model_entries,
    split_round,
)
from ramen.turns import RowError, TrainingRenderer, Turn


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


def sample_turn(sample: dict) -> Turn:
    """A sample's assistant turn; `content` None: it was cut off inside its reasoning."""
    content = sample.get("content")
    return Turn(
        (sample.get("reasoning") or "").strip(), None if content is None else content.strip()
    )


class SetWriter:
    """Collects rows of a TRL dataset, writes each assistant turn in the shape the sampler's
    chat template reads (ramen/turns.py) and checks that it renders as generated, and at
    the end writes the `datasets` folder, the card, and (optionally) pushes to the hub."""

    def __init__(self, ctx: StageContext, kind: str, fmt: str):
        self.ctx, self.kind, self.fmt = ctx, kind, fmt
        recipe = ctx.recipe
        model = recipe.curation.sample.model
        spec = recipe.models[model]
        tokenizer = load_tokenizer(recipe, model, ctx.resolve_model(model))
        self.renderer = TrainingRenderer(
            tokenizer, model, spec.template_kwargs(), spec.training_chat_template
        )
        self.checked = 0  # turns rendered
        self.verified = 0  # turns of written rows whose rendering equals the generated text
        self.pending = 0  # such turns of the problem being built
        self.differed = 0  # turns whose rendering is not the generated text
        self.matched = 0  # turns whose rendering is (kept or not)
        self.first_difference = ""
        self.model = model
        self.rows: list[dict] = []
        self.problems = 0
        self.by_category: Counter = Counter()
        self.licences: Counter = Counter()
        self.sources: Counter = Counter()
        self.round = split_round(ctx.name)[1]
        self.earlier = 0  # rows kept from earlier rounds (`rounds.keep_earlier`)

    def turn(self, prompt: list[dict], sample: dict) -> list[dict]:
        """The sample's turn as a one-message list; RowError if the template cannot render
        it as the model generated it: the rendered completion must be exactly the text the
        model wrote (the sample's `text`), followed by the end-of-turn token when it stopped
        and by nothing when it was cut off. A sample without `text` (a server that returned
        it split) is checked for rendering only."""
        turn = sample_turn(sample)
        completion = self.renderer.completion(prompt, turn)
        self.checked += 1
        generated = sample.get("text")
        if generated is not None:
            expected = generated if turn.cut else generated + self.renderer.eot
            if completion != expected:
                self.differed += 1
                self.first_difference = self.first_difference or (
                    f"renders {_excerpt(completion, expected)} where the model wrote "
                    f"{_excerpt(expected, completion)}"
                )
                raise RowError(
                    "turn_not_as_generated",
                    f"sample {sample.get('sample_index')} renders as {_excerpt(completion, expected)}"
                    f" but the model wrote {_excerpt(expected, completion)}",
                )
            self.pending += 1
            self.matched += 1
        return [self.renderer.message(turn)]

    def discard(self) -> None:
        """The turns rendered since the last row was added belong to a rejected problem."""
        self.pending = 0

    def add(self, row: dict, problem: dict) -> None:
        self.verified, self.pending = self.verified + self.pending, 0
        if self.round > 1:  # a later round's row says which round made it
            row["meta"]["round"] = self.round
        self.ctx.keep(row)
        self.rows.append(row)
        self.by_category[str(problem.get("category"))] += 1
        prov = problem.get("provenance") or {}
        self.licences[str(prov.get("licence"))] += 1
        self.sources[str(prov.get("source"))] += 1

    def keep_earlier(self) -> None:
        """With `rounds.keep_earlier`, a later round's set holds the previous round's rows too
        (which hold the rounds before it), each with its `meta.round`, after its own."""
        earlier = self.ctx.config.get(EARLIER_ROUNDS_KEY)
        if not earlier:
            return
        for row in iter_jsonl(self.ctx.inputs[earlier] / "data.jsonl"):
            row["meta"].setdefault("round", 1)
            self.ctx.keep(row)
            self.rows.append(row)
            self.by_category[str(row["meta"].get("category"))] += 1
            self.licences[str(row["meta"].get("licence"))] += 1
            self.sources[str(row["meta"].get("source"))] += 1
            self.earlier += 1

    def finish(self, push_to_hub: str | None, private: bool) -> dict:
        import datasets

        if self.differed and not self.matched:
            raise UserError(
                f"the chat template of '{self.model}' renders no sample as the model "
                f"generated it ({self.differed} compared; it {self.first_difference}); give "
                "a template that writes turns as the model does",
                where=f"models.{self.model}.training_chat_template",
            )

        self.keep_earlier()
        datasets.disable_progress_bars()
        ds = datasets.Dataset.from_list(self.rows)
        with atomic_dir(self.ctx.out_dir / "dataset") as tmp:
            ds.save_to_disk(str(tmp))
        self.ctx.add_output("dataset")
        unit = "pairs" if self.kind == "pairs" else "SFT rows"
        this_stage = {
            "stage": self.kind,
            "input": self.ctx.seen,
            "kept": self.problems,
            "written": len(self.rows),
            "unit": unit,
            "dropped": self.ctx.reasons,
        }
        if self.earlier:
            this_stage["kept from earlier rounds"] = self.earlier
        write_card(
            self.ctx.out_dir / "README.md",
            recipe=self.ctx.recipe,
            kind=self.kind,
            inputs=list(self.ctx.inputs),
            rows=len(self.rows),
            problems=self.problems,
            by_category=self.by_category,
            licences=self.licences,
            sources=self.sources,
            generator_models=model_roles(self.ctx.recipe),
            this_stage=this_stage,
            fmt=self.fmt,
        )
        self.ctx.add_output("README.md")
        if push_to_hub:
            err_console.print(f"{self.kind}: pushing {len(self.rows)} rows to {push_to_hub}")
            ds.push_to_hub(push_to_hub, private=private)  # token: HF_TOKEN, never logged
        return {
            "unit": unit,
            "rows": len(self.rows),
            **({"rows_from_earlier_rounds": self.earlier} if self.earlier else {}),
            "by_category": dict(sorted(self.by_category.items())),
            "template_checked": self.checked,
            "rendered_as_generated": self.verified,
            "turn_shape": self.renderer.shape,
        }


def _excerpt(text: str, other: str, width: int = 24) -> str:
    """`text` around its first difference from `other`, for a reject reason."""
    pairs = zip(text, other, strict=False)
    at = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(text), len(other)))
    return repr(text[max(0, at - width) : at + width])


def _meta(problem: dict, **extra: Any) -> dict:
    prov = problem.get("provenance") or {}
    return {
        "problem_id": problem["id"],
        "category": str(problem.get("category")),
        "source": str(prov.get("source")),
        "licence": str(prov.get("licence")),
        **extra,
    }


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
                        "meta": _meta(
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


# --------------------------------------------------------------------------- SFT


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
                    "meta": _meta(
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


# --------------------------------------------------------------------------- the declarations


def _set_config(section: str):
    def config(r: Any) -> dict:
        c = r.curation
        roles = {  # None: the recipe has no such section (the card says so)
            "curation.filter.models": c.filter.models if c.filter else None,
            "curation.sample.model": c.sample.model if c.sample else None,
            "curation.grade.judges": c.grade.judges,  # the judge and the panel
            "curation.grade.safety_judge": c.grade.safety_judge,
        }
        return {
            f"curation.{section}": dump(getattr(c, section)),
            # the turns are rendered by the sampler's template; the card names the recipe,
            # its sources and the models in their roles
            "name": r.name,
            "seed": r.seed,  # the order pairs are capped in; the card states it
            "data.sources": [dump(s) for s in r.data.sources],
            "data.allow_licences": r.data.allow_licences,
            "data.forbid_generators": r.data.forbid_generators,
            **roles,
            **model_entries(
                r,
                *(c.filter.models if c.filter else []),
                roles["curation.sample.model"],
                *c.grade.judges,
                c.grade.safety_judge,
                *written_models(r.data.sources),
            ),
        }

    return config


def _has(section: str):
    return lambda r: r.curation is not None and getattr(r.curation, section) is not None


PAIRS = StageDef(
    name="pairs",
    fn=pairs,
    needs=("select",),
    config=_set_config("pairs"),
    enabled=_has("pairs"),
    help="DPO pairs (TRL prompt/chosen/rejected) + datasets folder + dataset card",
)
SFT = StageDef(
    name="sft",
    fn=sft,
    needs=("grade",),
    config=_set_config("sft"),
    enabled=_has("sft"),
    help="SFT set by rejection sampling (majority vote without a reference) + card",
)
