"""One entry of `evaluation.benchmarks`: the keys every kind shares, and the kind's own
options (`BenchmarkKind.Options`) written beside them (`{name: do_not_answer, benign: ...}`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator, model_serializer, model_validator

from ramen.benchmarks.kind import KINDS, NoOptions, kind
from ramen.errors import UserError
from ramen.prompts import check_prompt_file
from ramen.spec import SAFE_NAME, StrictModel


class BenchmarkSpec(StrictModel):
    name: str = Field(
        description="Benchmark kind: `hle`, `do_not_answer`, `qa` (any QA/math set), or a kind "
        "a module in ramen/benchmarks/ registers. The kind's own options go beside these keys "
        "(see the kinds' options below)."
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
    options: Any = Field(
        default_factory=NoOptions,
        description="The kind's own options, read from the entry's other keys (not a key itself).",
        json_schema_extra={"hidden": True},
    )

    @property
    def key(self) -> str:
        return self.label or self.name

    @model_validator(mode="before")
    @classmethod
    def _split_options(cls, value: Any) -> Any:
        # `benchmarks: [hle]` is shorthand for `benchmarks: [{name: hle}]`; the keys that are
        # not common to every kind are the kind's options, validated by its Options model.
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict) or isinstance(value.get("options"), StrictModel):
            return value
        common = {k: v for k, v in value.items() if k in cls.model_fields and k != "options"}
        extra = {k: v for k, v in value.items() if k not in common}
        name = value.get("name")
        if not isinstance(name, str) or name not in KINDS:
            return {**common, **extra} if "options" in extra else common
        return {**common, "options": _options(KINDS[name], extra)}

    @field_validator("name")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        try:
            kind(value)
        except UserError as e:
            raise ValueError(str(e)) from None
        return value

    @model_validator(mode="after")
    def _common_rules(self):
        k = kind(self.name)
        if k.needs_path and not self.path:
            raise ValueError(f"a `{self.name}` benchmark needs `path`: a file or a hub dataset id")
        unknown = set(self.fields) - {"id", "question", "answer", "answer_type", "category"}
        if unknown:
            raise ValueError(
                f"fields: unknown target {sorted(unknown)[0]!r}; map id, question, answer, "
                "answer_type or category"
            )
        if self.system_prompt not in (None, "none"):
            check_prompt_file(self.system_prompt, ())
        return self

    @model_serializer(mode="wrap")
    def _flat(self, handler) -> dict:
        # the options are written back beside the common keys, as the recipe gives them
        out = handler(self)
        options = out.pop("options", None) or {}
        return {**out, **options}


def _options(k: Any, raw: dict) -> StrictModel:
    """The kind's Options from an entry's extra keys; a bad one is one line naming it."""
    try:
        return k.Options.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(k.Options.model_fields) or "none"
            raise ValueError(
                f"'{key}' is not a key of a benchmark entry or an option of {k.name} "
                f"(its options: {known})"
            ) from None
        raise ValueError(f"{key}: {err['msg'].removeprefix('Value error, ')}") from None
