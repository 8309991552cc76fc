"""On-policy rounds (`rounds:` in a recipe): the curation-to-evaluation stages, repeated.

Round 1 is the recipe's pipeline as it is, with its stages' usual names. Round r >= 2 runs the
same stage functions under the names `<stage>@r` (`sample@2`, `grade@2`, ..., `train@2`,
`evaluate@2`), each reading round r's recipe (`round_recipe`): the run's recipe with

- `rounds.set[r]`'s changes applied (curation.* and training.* keys only, so that every round
  is evaluated on the same questions),
- a model `trained-r<r-1>`: the base model's settings with the path of round r-1's trained
  model (`run:train/merged` for a LoRA step: the merged folder, served by vLLM like any model),
- that model as the sampler (`curation.sample.model`), as the difficulty filter's model with
  `refilter: true`, and as `training.base` with `train_from: previous`.

Each round stage finds its own round's inputs under their plain names (`grade@2` as
`ctx.inputs["grade"]`), so the stage functions do not know about rounds; the few things that
differ (the previous round's sets kept with `keep_earlier`) are in the stage's config. A round
stage also reads round r-1's last training stage when its config names that round's model, so
a retrained model reruns everything that used it. The shared stages (prepare ... balance, and
the round-1 filter unless `refilter`) run once; the report reads every round's evaluation.
"""

from __future__ import annotations

from typing import Any

from ramen.evaluation import evaluate
from ramen.evaluation.evaluate import LABEL_KEY
from ramen.launch.recipe import model_name, round_recipe
from ramen.stage import (
    EARLIER_ROUNDS_KEY,
    MAX_ROUNDS,
    StageDef,
    round_stage_name,
    split_round,
    train_stage_name,
)


def last_train_stage(recipe: Any, round_: int) -> str:
    """Round `round_`'s last training stage (`train@2`, or `train-2@2` with `training.then`)."""
    steps = round_recipe(recipe, round_).training.steps()
    return round_stage_name(train_stage_name(len(steps) - 1), round_)


def _in_round(recipe: Any, round_: int) -> bool:
    return recipe.rounds is not None and recipe.rounds.count >= round_


def _repeated_here(recipe: Any, name: str, repeated: frozenset[str]) -> bool:
    """Whether stage `name` has its own copy in a later round (else the round reads the shared
    one: the round-1 filter without `refilter`)."""
    if name not in repeated:
        return False
    return name != "filter" or bool(recipe.rounds.refilter)


def round_stage(stage: StageDef, round_: int, repeated: frozenset[str]) -> StageDef:
    """`stage` as round `round_` runs it; `repeated` names every stage a round repeats."""

    def recipe_for(recipe: Any) -> Any:
        return round_recipe(recipe, round_)

    def enabled(recipe: Any) -> bool:
        if not _in_round(recipe, round_):
            return False
        if stage.name == "filter" and not recipe.rounds.refilter:
            return False
        if stage.name == "evaluate" and (
            recipe.evaluation is None or recipe.evaluation.model != "trained"
        ):
            return False  # a fixed model: the same in every round, evaluated once
        return stage.enabled(recipe_for(recipe))

    def config(recipe: Any) -> dict:
        r = recipe_for(recipe)
        out = stage.config(r)
        if LABEL_KEY in out:  # "trained (strong + dpo lora), round 2"
            out[LABEL_KEY] = f"{evaluate.model_label(recipe, 'model')}, round {round_}"
        if stage.name in ("pairs", "sft"):
            keep = recipe.rounds.keep_earlier
            # the previous round's set, as this stage's inputs name it (`pairs@1`)
            out[EARLIER_ROUNDS_KEY] = f"{stage.name}@{round_ - 1}" if keep else None
        return out

    def needs(recipe: Any) -> tuple[str, ...]:
        r = recipe_for(recipe)
        own = stage.needs(r) if callable(stage.needs) else stage.needs
        names = [
            round_stage_name(n, round_) if _repeated_here(recipe, n, repeated) else n for n in own
        ]
        cfg = config(recipe)
        if f"models.{model_name(round_ - 1)}" in cfg:  # it uses round r-1's model
            names.append(last_train_stage(recipe, round_ - 1))
        if cfg.get(EARLIER_ROUNDS_KEY):
            names.append(round_stage_name(stage.name, round_ - 1))
        return tuple(dict.fromkeys(names))

    def input_key(name: str) -> str:
        # its own round's stages by their plain names; another round's as `train@1`, so that
        # round 1's `train` (read for its model) is not taken for this round's; the shared
        # round-1 filter (no `refilter`) keeps its name: the round has no filter of its own
        base, r = split_round(name)
        if r == round_ or base not in repeated or base == "filter":
            return base if r == round_ else name
        return f"{base}@{r}"

    def models(recipe: Any) -> list[str | None]:
        return stage.models(recipe_for(recipe)) if stage.models else []

    return StageDef(
        name=round_stage_name(stage.name, round_),
        fn=stage.fn,
        needs=needs,
        config=config,
        enabled=enabled,
        help=f"round {round_}: {stage.help}",
        models=models if stage.models else None,
        recipe_for=recipe_for,
        input_key=input_key,
        ahead=stage.ahead,
    )


def round_stages(repeated: list[StageDef]) -> list[StageDef]:
    """Rounds 2..MAX_ROUNDS of the stages a round repeats (`repeated`, in their order; the one
    stage list, launch/stages.py, says which): `sample@2`, ..., `evaluate@2`, then round 3."""
    names = frozenset(s.name for s in repeated)
    return [round_stage(stage, r, names) for r in range(2, MAX_ROUNDS + 1) for stage in repeated]
