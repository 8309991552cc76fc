"""The `data:` and `curation:` sections of a recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ramen.prompts import check_prompt_file
from ramen.spec import StrictModel


class SourceSpec(StrictModel):
    path: str = Field(
        description="A hub dataset id, a local .jsonl/.json/.parquet/.csv file, or "
        "`bundled:NAME` for a file shipped in ramen/data."
    )
    name: str | None = Field(default=None, description="Hub dataset config name, if any.")
    split: str = Field(default="train", description="Dataset split to read.")
    revision: str | None = Field(default=None, description="Hub dataset revision to pin.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Map from problem field (id, question, answer, answer_type, category, "
        "reasoning) to the source's column name; unmapped fields keep their own name.",
    )
    licence: str = Field(
        description="SPDX-style licence of the source (e.g. apache-2.0, mit, cc-by-4.0)."
    )
    generator: str | None = Field(
        default=None,
        description="Model that wrote the rows, if any (null = human-written); checked against "
        "`data.forbid_generators`.",
    )
    category: str | None = Field(
        default=None,
        description="Category given to every row of this source (overrides the column).",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Read only the first N rows (null = all)."
    )


class CleanConfig(StrictModel):
    max_question_tokens: int = Field(
        default=4096, ge=1, description="Drop problems whose question is longer, in model tokens."
    )
    placeholder_answers: list[str] = Field(
        default_factory=lambda: ["n/a", "na", "none", "null", "-", "?", "unknown"],
        description="Answers treated as missing (compared case-insensitively, stripped).",
    )
    max_repeated_ngram_ratio: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Drop rows whose reasoning repeats itself: share of repeated word 4-grams above this.",
    )


class DedupConfig(StrictModel):
    exact: bool = Field(
        default=True, description="Drop exact duplicates after normalising case and spaces."
    )
    near: bool = Field(default=True, description="Drop near-duplicates found by MinHash LSH.")
    threshold: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Jaccard similarity above which two questions are near-duplicates.",
    )


class DecontaminateConfig(StrictModel):
    against: list[str] = Field(
        default_factory=list,
        description="Evaluation sets whose questions must not leak into training data: "
        "benchmark names (hle, do_not_answer) or local files.",
    )
    ngram: int = Field(default=13, ge=1, description="Word n-gram length for overlap matching.")


class BalanceConfig(StrictModel):
    target: str | None = Field(
        default=None, description="Named share preset (`hle`); null to use `shares`."
    )
    shares: dict[str, float] = Field(
        default_factory=dict,
        description="Target share per category (they are normalised to sum to 1).",
    )
    category_map: dict[str, str] = Field(
        default_factory=dict, description="Map from source category labels to target categories."
    )


class DataConfig(StrictModel):
    sources: list[SourceSpec] = Field(
        min_length=1, description="Where the candidate problems come from."
    )
    allow_licences: list[str] | None = Field(
        default=None, description="Licences a row may carry (null = any licence)."
    )
    forbid_generators: list[str] = Field(
        default_factory=list,
        description="Generator models whose outputs may not be used (e.g. closed models); "
        "matched case-insensitively as substrings.",
    )
    clean: CleanConfig = Field(default_factory=CleanConfig, description="Row cleaning rules.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Duplicate removal.")
    decontaminate: DecontaminateConfig = Field(
        default_factory=DecontaminateConfig, description="Removal of evaluation-set overlap."
    )
    balance: BalanceConfig | None = Field(
        default=None, description="Downsampling to target category shares (null = keep all)."
    )


class FilterConfig(StrictModel):
    model: str = Field(
        description="Name (under `models:`) of the weak model that tries each problem."
    )
    samples: int = Field(default=1, ge=1, description="Attempts per problem (k).")
    drop_if_solved: bool = Field(
        default=True, description="Drop problems the weak model solves (easy)."
    )
    min_solved: int = Field(
        default=1,
        ge=1,
        description="A problem counts as solved when at least this many of k attempts are correct.",
    )
    temperature: float = Field(
        default=0.6, ge=0.0, description="Sampling temperature of the attempts."
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="Cap on completion tokens (null = all the context leaves)."
    )


class SampleConfig(StrictModel):
    model: str = Field(
        description="Name (under `models:`) of the strong model that samples answers."
    )
    n: int = Field(default=4, ge=1, description="Samples per problem.")
    temperature: float = Field(default=1.0, ge=0.0, description="Sampling temperature.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Cap on completion tokens (null = all the context leaves)."
    )


class GradeConfig(StrictModel):
    judge: str | None = Field(
        default=None, description="Name (under `models:`) of the LLM judge; null = rules only."
    )
    rules_first: bool = Field(
        default=True,
        description="Grade by rules first and send only undecided samples to the judge; false "
        "sends every sample with a final answer to the judge.",
    )
    judge_prompt: str = Field(
        default="judge_hle.txt",
        description="Judge prompt: a file in ramen/prompts or a path to your own, with "
        "{question}, {response} and {correct_answer}.",
    )
    judge_retries: int = Field(
        default=2,
        ge=0,
        description="Re-requests of an unparsable judgement before it counts as judge_error.",
    )

    @field_validator("judge_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        check_prompt_file(value)
        return value


class SelectConfig(StrictModel):
    min_correct: int | None = Field(
        default=None,
        ge=0,
        description="Keep problems with at least this many correct samples (null = 1).",
    )
    max_correct: int | None = Field(
        default=None,
        ge=0,
        description="Keep problems with at most this many correct samples (null = n-1).",
    )


class PairsConfig(StrictModel):
    strategy: Literal["all", "one"] = Field(
        default="all",
        description="`all`: every chosen x rejected pair up to `per_problem`; `one`: one per problem.",
    )
    per_problem: int = Field(default=2, ge=1, description="Most pairs built from one problem.")
    length_match: bool = Field(
        default=True,
        description="Prefer pairs with the smallest length gap, so DPO does not learn 'longer wins'.",
    )
    allow_truncated_rejected: bool = Field(
        default=True, description="May a sample cut by the length limit be the rejected side."
    )


class SFTSetConfig(StrictModel):
    per_problem: int = Field(default=1, ge=1, description="Correct samples kept per problem.")
    majority_threshold: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="For problems without a reference answer: share of samples that must agree "
        "for the majority answer to become the label.",
    )


class CurationConfig(StrictModel):
    filter: FilterConfig | None = Field(
        default=None, description="Difficulty filter with the weak model."
    )
    sample: SampleConfig | None = Field(default=None, description="Sampling with the strong model.")
    grade: GradeConfig = Field(default_factory=GradeConfig, description="How samples are graded.")
    select: SelectConfig = Field(
        default_factory=SelectConfig, description="Pass band of problems kept."
    )
    pairs: PairsConfig | None = Field(
        default=None, description="DPO pair building (null = no pairs)."
    )
    sft: SFTSetConfig | None = Field(
        default=None, description="SFT set building (null = no SFT set)."
    )
