"""The `evaluation:` section of a recipe."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_serializer, model_validator

from ramen.benchmarks import KINDS, kind
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.errors import RecipeError
from ramen.inference.sampling_params import Sampling, temperature_field
from ramen.prompts import check_prompt_file
from ramen.spec import need_model

# keys of the evaluation section that became a benchmark kind's options (issue 33)
MOVED = {"dna_judge_prompt": "judge_prompt", "judge_reasoning": "judge_reasoning"}


class EvaluationConfig(Sampling):
    model: str = Field(
        default="trained",
        description="What to evaluate: `trained` (the training output) or a name under `models:`.",
    )
    baseline: str | None = Field(
        default=None,
        description="A name under `models:` evaluated on the same questions and compared with "
        "`model` by a paired test (null = no comparison).",
    )
    models: list[str] = Field(
        default_factory=list,
        description="More candidates (names under `models:`) evaluated like `model` on the same "
        "questions and seeds (stage `evaluate-models`); the report compares `model` and each "
        "of them with the baseline, paired, McNemar p Holm-corrected over the candidates "
        "(as `ramen compare BASE CAND1 CAND2 ...`). Needs `baseline`.",
    )
    checkpoints: str = Field(
        default="last",
        pattern=r"^(last|all|every_[1-9][0-9]*)$",
        description="Which of the trained model's checkpoints to evaluate: `last` (the final "
        "model only), `all` (every checkpoint the last training step saved; it then keeps all "
        "of them), or `every_K` (every K-th, and the last). Stage `evaluate-checkpoints`, "
        "with the same benchmarks and sample seeds; the report plots accuracy against step "
        "and marks the best checkpoint that beats the baseline after Holm's correction.",
    )
    benchmarks: list[BenchmarkSpec] = Field(min_length=1, description="Benchmarks to run.")
    samples: int = Field(
        default=1, ge=1, description="Samples per question (avg@n, pass@k, maj@k)."
    )
    temperature: float = temperature_field(0.6)
    judge: str | None = Field(
        default=None, description="Name (under `models:`) of the judge model."
    )
    judge_prompt: str = Field(
        default="judge_hle.txt",
        description="Judge prompt: a file in ramen/prompts or a path to your own, with "
        "{question}, {response} and {correct_answer}.",
    )

    judge_retries: int = Field(
        default=2,
        ge=0,
        description="Re-requests of an unparsable judge reply before it counts as an error.",
    )
    failure_analysis: bool = Field(
        default=True,
        description="Ask the judge why each wrong answer is wrong (wrong approach, execution slip, "
        "misread question, format); counts per category in the report.",
    )
    failure_prompt: str = Field(
        default="judge_failure.txt",
        description="Failure-analysis prompt, with {question}, {response} and {correct_answer}.",
    )

    @field_validator("judge_prompt", "failure_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        check_prompt_file(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for old, new in MOVED.items():
                if old in value:
                    raise ValueError(
                        f"`{old}` moved into the do_not_answer benchmark's entry: write "
                        f"`{{name: do_not_answer, {new}: ...}}` under evaluation.benchmarks"
                    )
        return value

    @model_serializer(mode="wrap")
    def _hashed_layout(self, handler, info) -> dict:
        # dumped for a hash (`context={"hashed": True}`, ramen.stage.dump): each kind may keep
        # the layout its options had before they moved into its entries, so that runs made
        # before are skipped (BenchmarkKind.hashed_layout); any other dump reads back as is
        out = handler(self)
        if (info.context or {}).get("hashed") and isinstance(out.get("benchmarks"), list):
            for name, k in KINDS.items():
                entries = [i for i, b in enumerate(self.benchmarks) if b.name == name]
                k.hashed_layout(out, entries)
        return out

    @model_validator(mode="after")
    def _distinct_keys(self):
        seen = set()
        for b in self.benchmarks:
            if b.key in seen:
                raise ValueError(f"two benchmarks are called '{b.key}'; give one a `label`")
            seen.add(b.key)
        if self.baseline is not None and self.baseline == self.model:
            raise ValueError("baseline is the evaluated model itself; name another model")
        if self.models and self.baseline is None:
            raise ValueError("`models` are compared with the baseline: set `baseline`")
        twice = [
            m for m in self.models if m in (self.model, self.baseline) or self.models.count(m) > 1
        ]
        if twice:
            raise ValueError(
                f"'{twice[0]}' is evaluated already (model, baseline or twice in models)"
            )
        return self

    @property
    def sweeps_checkpoints(self) -> bool:
        """The trained model's checkpoints are evaluated (so the last training step keeps them)."""
        return self.model == "trained" and self.checkpoints != "last"

    def check(self, recipe: Any) -> None:
        """Cross-field rules: every model named is declared (`trained` only with a training
        section), checkpoints are the trained model's, and a judged benchmark has a judge."""
        for i, name in enumerate(self.models):
            need_model(recipe, f"evaluation.models[{i}]", name)
        if self.checkpoints != "last" and (self.model != "trained" or not recipe.training):
            raise RecipeError(
                "checkpoints are the trained model's: set evaluation.model: trained (with a "
                "training section) or remove it",
                where="evaluation.checkpoints",
            )
        need_model(
            recipe, "evaluation.model", self.model, allow_trained=recipe.training is not None
        )
        need_model(recipe, "evaluation.baseline", self.baseline)
        need_model(recipe, "evaluation.judge", self.judge)
        for i, b in enumerate(self.benchmarks):
            if kind(b.name).needs_judge and self.judge is None:
                raise RecipeError(
                    f"{b.name} is scored by a judge; set evaluation.judge to a model name",
                    where=f"evaluation.benchmarks[{i}]",
                )
