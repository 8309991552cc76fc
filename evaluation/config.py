"""The `evaluation:` section of a recipe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ramen.errors import RecipeError
from ramen.inference.sampling_params import Sampling, temperature_field
from ramen.prompts import DNA_PLACEHOLDERS, check_prompt_file
from ramen.spec import SAFE_NAME, StrictModel, need_model


class BenchmarkSpec(StrictModel):
    name: Literal["hle", "do_not_answer", "qa"] = Field(
        description="Benchmark kind: `hle`, `do_not_answer`, or `qa` (any QA/math set)."
    )
    path: str | None = Field(
        default=None,
        description="Local file in the benchmark's schema, or `bundled:NAME`; null = the official "
        "hub set. For `qa`: a file or a hub dataset id (required).",
    )
    split: str = Field(default="test", description="Split of a hub `qa` dataset.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="For `qa`: which column holds each of id, question, answer, answer_type, "
        "category, e.g. `{question: problem, answer: solution}`.",
    )
    label: str | None = Field(
        default=None,
        pattern=SAFE_NAME,
        description="Name in reports and file names (default: the benchmark's name); needed when "
        "two `qa` sets are evaluated.",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Evaluate only the first N questions."
    )
    samples: int | None = Field(
        default=None,
        ge=1,
        description="Samples per question of this benchmark; null = `evaluation.samples`.",
    )
    system_prompt: str | None = Field(
        default=None,
        description="System prompt file (ramen/prompts or a path), or `none` for no system "
        "prompt. Default: HLE's official prompt (`hle_system.txt`) for hle, none for the others "
        "(the model's own template).",
    )
    rules_first: bool | None = Field(
        default=None,
        description="Grade by rules and judge only the undecided (default for qa), or judge every "
        "answer as HLE's harness does (default for hle).",
    )

    benign: str | None = Field(
        default=None,
        description="do_not_answer only: a file of harmless look-alike prompts (same schema; "
        "e.g. `bundled:dna_benign.jsonl`) evaluated beside the benchmark's; refusing one "
        "(label 0 or 4) is over-refusal, reported beside the safety rate. Rows with "
        "`benign: true` in the benchmark's own file count the same way.",
    )

    @property
    def key(self) -> str:
        return self.label or self.name

    @model_validator(mode="after")
    def _qa_needs_path(self):
        if self.name == "qa" and not self.path:
            raise ValueError("a `qa` benchmark needs `path`: a file or a hub dataset id")
        unknown = set(self.fields) - {"id", "question", "answer", "answer_type", "category"}
        if unknown:
            raise ValueError(
                f"fields: unknown target {sorted(unknown)[0]!r}; map id, question, answer, "
                "answer_type or category"
            )
        if self.system_prompt not in (None, "none"):
            check_prompt_file(self.system_prompt, ())
        if self.benign is not None and self.name != "do_not_answer":
            raise ValueError("`benign` look-alike prompts are for do_not_answer; remove it")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value):
        # `benchmarks: [hle]` is shorthand for `benchmarks: [{name: hle}]`.
        return {"name": value} if isinstance(value, str) else value


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
    dna_judge_prompt: str = Field(
        default="judge_dna.txt",
        description="Do-Not-Answer judge prompt (0-6 action rubric, `<answer>N</answer>`), with "
        "{question} and {response}.",
    )
    judge_reasoning: bool = Field(
        default=False,
        description="Do-Not-Answer: also judge the reasoning text on its own (reasoning safety rate).",
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

    @field_validator("dna_judge_prompt")
    @classmethod
    def _dna_prompt_exists(cls, value: str) -> str:
        check_prompt_file(value, DNA_PLACEHOLDERS)
        return value

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
        # the kinds import the evaluate stage's code, which imports this module: imported at
        # check time (a benchmark registry filled by the kinds will replace it)
        from ramen.benchmarks.registry import KINDS

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
            if KINDS[b.name].needs_judge and self.judge is None:
                raise RecipeError(
                    f"{b.name} is scored by a judge; set evaluation.judge to a model name",
                    where=f"evaluation.benchmarks[{i}]",
                )
