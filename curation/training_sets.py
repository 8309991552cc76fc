"""What the `pairs` and `sft` stages share: a sample's assistant turn, and `SetWriter`, which
writes each turn in the shape the sampler's chat template reads, checks that it renders as the
model generated it, and writes data.jsonl, the `datasets` folder (`dataset/`, load it with
`datasets.load_from_disk`) and the dataset card (README.md)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ramen.console import err_console
from ramen.curation.cards import model_roles, write_card, written_models
from ramen.curation.clean import load_tokenizer
from ramen.errors import UserError
from ramen.io import atomic_dir, iter_jsonl
from ramen.stage import EARLIER_ROUNDS_KEY, StageContext, dump, model_entries, split_round
from ramen.turns import RowError, TrainingRenderer, Turn


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
                    f"renders {excerpt(completion, expected)} where the model wrote "
                    f"{excerpt(expected, completion)}"
                )
                raise RowError(
                    "turn_not_as_generated",
                    f"sample {sample.get('sample_index')} renders as {excerpt(completion, expected)}"
                    f" but the model wrote {excerpt(expected, completion)}",
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


def excerpt(text: str, other: str, width: int = 24) -> str:
    """`text` around its first difference from `other`, for a reject reason."""
    pairs = zip(text, other, strict=False)
    at = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(text), len(other)))
    return repr(text[max(0, at - width) : at + width])


def set_meta(problem: dict, **extra: Any) -> dict:
    prov = problem.get("provenance") or {}
    return {
        "problem_id": problem["id"],
        "category": str(problem.get("category")),
        "source": str(prov.get("source")),
        "licence": str(prov.get("licence")),
        **extra,
    }


def set_config(section: str):
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
