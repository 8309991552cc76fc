"""The `data:` and `curation:` sections of a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ramen.benchmarks import hub_kinds
from ramen.bundled import resolve_bundled
from ramen.curation.synthetic import check_source
from ramen.errors import RecipeError
from ramen.inference.sampling_params import Sampling, temperature_field
from ramen.prompts import DNA_PLACEHOLDERS, WRITE_PLACEHOLDERS, check_prompt_file
from ramen.spec import StrictModel, need_model

Scalar = str | int | float | bool | None


class WrittenSpec(StrictModel):
    """A source of problems a writer model drafts and a solver's majority vote labels
    (curation/written.py)."""

    writer: str = Field(description="The model (a name under `models:`) that drafts problems.")
    solver: str = Field(
        description="The model (a name under `models:`) whose `samples` answers label each "
        "draft by majority vote."
    )
    count: int = Field(ge=1, description="How many drafts to ask for, spread over `categories`.")
    seeds: str = Field(
        description="File of seed problems (`question` and `category` columns; .jsonl, .json, "
        ".parquet, .csv or `bundled:NAME`): each prompt shows `shots` of them, of the draft's "
        "category."
    )
    categories: list[str] = Field(
        default_factory=list,
        description="Categories to write problems in (empty = every category of the seeds).",
    )
    difficulty: int = Field(
        default=2, ge=1, le=5, description="Difficulty 1-5 the prompt asks for."
    )
    shots: int = Field(default=3, ge=1, le=16, description="Seed problems shown per prompt.")
    prompt: str = Field(
        default="write_problem.txt",
        description="The writer's prompt file (ramen/prompts or a path), with `{category}`, "
        "`{difficulty}` and `{examples}`; the reply's text after `Problem:` is the draft.",
    )
    temperature: float = temperature_field(1.0)
    max_tokens: int | None = Field(
        default=512, ge=1, description="The writer's completion cap per draft (null = the context)."
    )
    samples: int = Field(
        default=8, ge=2, description="Solver answers per draft (the vote's electorate)."
    )
    agreement: float = Field(
        default=0.8,
        gt=0.5,
        le=1.0,
        description="Share of all `samples` that must give the same answer for it to become the "
        "reference (ties never do); other drafts are rejects (`no_majority`).",
    )
    solver_temperature: float = temperature_field(1.0)
    solver_max_tokens: int | None = Field(
        default=None, ge=1, description="The solver's completion cap (null = the context)."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_file(cls, value: str) -> str:

        check_prompt_file(value, WRITE_PLACEHOLDERS)
        return value


class SourceSpec(StrictModel):
    path: str | None = Field(
        default=None,
        description="A hub dataset id, a local .jsonl/.json/.parquet/.csv file, or "
        "`bundled:NAME` for a file shipped in ramen/data (or give `synthetic`).",
    )
    synthetic: Literal["sympy"] | None = Field(
        default=None,
        description="`sympy`: problems made by SymPy generators (curation/generators.py) "
        "instead of read from `path`; see `count`, `generators`, `difficulty`, `knobs`, "
        "`languages`.",
    )
    written: WrittenSpec | None = Field(
        default=None,
        description="Problems drafted by a writer model and labelled by a solver's majority "
        "vote (stage `write`, curation/written.py); rows carry the writer's model path as "
        "`generator`, so `data.forbid_generators` applies. Give `licence` (the writer's terms).",
    )
    name: str | None = Field(default=None, description="Hub dataset config name, if any.")
    split: str = Field(default="train", description="Dataset split to read.")
    revision: str | None = Field(default=None, description="Hub dataset revision to pin.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Map from problem field (id, question, answer, answer_type, category, "
        "reasoning) to the source's column name; unmapped fields keep their own name.",
    )
    licence: str | None = Field(
        default=None,
        description="SPDX-style licence of the source (e.g. apache-2.0, mit, cc-by-4.0); "
        "required for a `path`, cc0-1.0 for synthetic problems.",
    )
    generator: str | None = Field(
        default=None,
        description="Model that wrote the rows, if any (null = human-written; `sympy` for "
        "synthetic problems); checked against `data.forbid_generators`.",
    )
    category: str | None = Field(
        default=None,
        description="Category given to every row of this source (overrides the column).",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Read only the first N rows (null = all)."
    )
    answer_type: Literal["exactMatch", "multipleChoice", "free", "safety", "benign"] | None = Field(
        default=None,
        description="Answer type given to every row (overrides the column): `safety` for "
        "harmful requests (Do-Not-Answer schema; graded by `curation.grade.safety_judge`), "
        "`benign` for harmless look-alikes whose refusals count as over-refusal.",
    )
    keep: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="Row filter on the source's own columns: keep a row only if each named "
        "column holds one of the values (e.g. `{problem_is_valid: 'Yes'}`). Rows filtered "
        "out are rejects (`filtered_keep:COLUMN`).",
    )
    drop: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="Row filter on the source's own columns: drop a row if any named column "
        "holds one of the values (e.g. `{question_type: proof, answer: [proof, notfound]}`); "
        "rejects `filtered_drop:COLUMN`.",
    )
    weight: float | None = Field(
        default=None,
        gt=0,
        description="Share of this source among the sources that have a weight (normalised): "
        "the prepared set is the largest mix with these shares, rows drawn at random "
        "(seeded); rows left out are rejects (`over_mix_share`). Sources without a weight are "
        "kept whole.",
    )
    count: int | None = Field(
        default=None, ge=1, description="Synthetic: how many problems to make."
    )
    generators: list[str] = Field(
        default_factory=list,
        description="Synthetic: generator names (`ramen sources` lists them; a category name "
        "takes all of its generators; empty = all), or `FILE.py:FUNCTION` for your own "
        "`FUNCTION(rng, difficulty) -> {question, answer, category}`. Problems are spread "
        "evenly over them.",
    )
    difficulty: int = Field(
        default=2, ge=1, le=5, description="Synthetic: difficulty level 1-5 (sets each knob)."
    )
    knobs: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Synthetic: knob values per generator, over the difficulty's (e.g. "
        "`{equations.linear_system: {unknowns: 4}}`).",
    )
    languages: list[Literal["en", "ja"]] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        description="Synthetic: the templates' languages, problems spread evenly over them.",
    )
    seed: int | None = Field(
        default=None, description="Synthetic: generator seed (null = the recipe's seed)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        kinds = [k for k in ("path", "synthetic", "written") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "give one of `path` (a file or hub dataset), `synthetic: sympy` or `written` "
                f"(got {' and '.join(kinds) or 'none'})"
            )
        if self.written is not None:
            if self.licence is None:
                raise ValueError("`licence` is required for written problems (the writer's terms)")
            used = [k for k in ("count", "generators", "knobs", "fields") if getattr(self, k)]
            if used:
                raise ValueError(f"`{used[0]}` is not for written sources (see `written:`)")
            return self
        if self.synthetic is None:
            used = [k for k in ("count", "generators", "knobs") if getattr(self, k)]
            if used:
                raise ValueError(f"`{used[0]}` is for synthetic sources; add `synthetic: sympy`")
            if self.licence is None:
                raise ValueError("`licence` is required for a source file or dataset")
            return self
        if self.count is None:
            raise ValueError("a synthetic source needs `count` (how many problems to make)")
        if self.fields or self.keep or self.drop:
            raise ValueError("`fields`, `keep` and `drop` are for sources read from a path")

        check_source(self)
        return self

    @property
    def label(self) -> str:
        """How rows, rejects and cards name this source."""
        if self.path is not None:
            return self.path
        if self.written is not None:
            w = self.written
            return f"written:{w.writer}:{'+'.join(w.categories) or 'all'}@{w.difficulty}"
        seed = f",seed={self.seed}" if self.seed is not None else ""
        return f"synthetic:{'+'.join(self.generators or ['all'])}@{self.difficulty}{seed}"

    @property
    def declared_licence(self) -> str:
        return self.licence or "cc0-1.0"


class CleanConfig(StrictModel):
    require_answer: bool = Field(
        default=True,
        description="Drop problems with no reference answer (false keeps them, e.g. for an SFT "
        "set labelled by majority vote).",
    )
    placeholder_answers: list[str] = Field(
        default_factory=lambda: ["n/a", "na", "none", "null", "-", "?", "unknown"],
        description="Answers treated as missing (compared case-insensitively, stripped).",
    )
    tokenizer: str | None = Field(
        default=None,
        description="Name (under `models:`) whose tokenizer counts lengths; null = the sampling "
        "model, else the filter model, else the first model declared.",
    )
    max_question_tokens: int | None = Field(
        default=4096,
        ge=1,
        description="Drop problems whose question is longer, in model tokens (null = no limit).",
    )
    max_reasoning_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Drop rows whose mapped reasoning is longer, in model tokens (null = no limit).",
    )
    max_repeated_ngram_ratio: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Drop rows whose reasoning loops: share of repeated word n-grams above this.",
    )
    repetition_ngram: int = Field(
        default=4, ge=1, description="Word n-gram length for the repetition ratio."
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
    shingle: int = Field(
        default=3, ge=1, description="Word n-gram length of the shingles MinHash compares."
    )
    num_perm: int = Field(
        default=128, ge=16, le=1024, description="MinHash permutations (more = more exact, slower)."
    )


class DecontaminateConfig(StrictModel):
    against: list[str] = Field(
        default_factory=list,
        description="Evaluation sets whose questions must not leak into training data: "
        "benchmark names (hle, do_not_answer) or local files.",
    )
    ngram: int = Field(default=13, ge=1, description="Word n-gram length for overlap matching.")
    exact: bool = Field(
        default=True,
        description="Also drop questions equal to a benchmark question after normalisation "
        "(catches questions shorter than `ngram` words).",
    )


class BalanceConfig(StrictModel):
    target: Literal["hle"] | None = Field(
        default=None,
        description="Named share preset: `hle` (the HLE text-set category shares); null to use "
        "`shares`.",
    )
    shares: dict[str, float] = Field(
        default_factory=dict,
        description="Target share per category (normalised to sum to 1). Categories with no rows "
        "are left out and the rest renormalised; stats.json lists them.",
    )
    category_map: dict[str, str] = Field(
        default_factory=dict,
        description="Map from source category labels to target categories; `'*'` maps every "
        "label not listed. A label that reaches no target category is a reject.",
    )
    max_total: int | None = Field(
        default=None,
        ge=1,
        description="Cap on the rows kept in all (null = as many as shares allow).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> BalanceConfig:
        if (self.target is None) == (not self.shares):
            raise ValueError("give either `target` (a preset such as hle) or `shares`, not both")
        if any(v <= 0 for v in self.shares.values()):
            raise ValueError("every share must be > 0")
        return self


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

    @field_validator("sources")
    @classmethod
    def _distinct_sources(cls, sources: list[SourceSpec]) -> list[SourceSpec]:
        labels = [s.label for s in sources]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(
                f"two sources are both {twice[0]}: merge them, or make them differ (a synthetic "
                "source by `generators`, `difficulty` or `seed`)"
            )
        return sources

    def check(self, recipe: Any) -> None:
        """Cross-field rules: the tokenizer and writers name declared models, a writer is not a
        forbidden generator, and every decontamination set is a benchmark or a file."""
        need_model(recipe, "data.clean.tokenizer", self.clean.tokenizer)
        for i, src in enumerate(self.sources):
            if src.written is None:
                continue
            need_model(recipe, f"data.sources[{i}].written.writer", src.written.writer)
            need_model(recipe, f"data.sources[{i}].written.solver", src.written.solver)
            writer = recipe.models[src.written.writer].path
            banned = [g for g in self.forbid_generators if g.lower() in writer.lower()]
            if banned:
                raise RecipeError(
                    f"the writer '{writer}' matches data.forbid_generators ('{banned[0]}'): its "
                    "problems could not be used; pick another writer or change the list",
                    where=f"data.sources[{i}].written.writer",
                )
        evaluated = {b.name for b in recipe.evaluation.benchmarks} if recipe.evaluation else set()
        for i, entry in enumerate(self.decontaminate.against):
            known = entry in evaluated or entry in hub_kinds()
            if not known and not Path(resolve_bundled(entry)).is_file():
                raise RecipeError(
                    f"'{entry}' is neither a benchmark name ({', '.join(hub_kinds())}) nor a file",
                    where=f"data.decontaminate.against[{i}]",
                )


class FilterConfig(Sampling):
    model: str | list[str] = Field(
        description="Name (under `models:`) of the weak model that tries each problem, or several "
        "names from smallest to largest: then difficulty tiers (easy / medium / hard / inverted) "
        "compare the first and the last."
    )
    decide_by: str | None = Field(
        default=None,
        description="With several models, the one whose attempts decide what is dropped (null = "
        "the last listed).",
    )
    samples: int = Field(default=1, ge=1, description="Attempts per problem and model (k).")
    drop_if_solved: bool = Field(
        default=True, description="Drop problems the deciding model solves (easy)."
    )
    min_solved: int = Field(
        default=1,
        ge=1,
        description="A problem counts as solved when at least this many of k attempts are correct.",
    )
    temperature: float = temperature_field(0.6, "Sampling temperature of the attempts.")

    @property
    def models(self) -> list[str]:
        return [self.model] if isinstance(self.model, str) else list(self.model)

    @property
    def decider(self) -> str:
        return self.decide_by or self.models[-1]


class SampleConfig(Sampling):
    model: str = Field(
        description="Name (under `models:`) of the strong model that samples answers."
    )
    n: int = Field(default=4, ge=1, description="Samples per problem.")


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
    panel: list[str] = Field(
        default_factory=list,
        description="More judges (names under `models:`) that judge the same samples beside "
        "`judge`, each in its own `judge_format`; their verdicts are combined by `panel_rule` "
        "and every disagreement is written to judge-disagreements.jsonl for a person to read.",
    )
    panel_rule: Literal["unanimous", "majority"] = Field(
        default="majority",
        description="`unanimous`: a verdict only when every judge gives it; `majority`: the "
        "verdict of more than half the judges. Otherwise the sample stays `undecided` (neither "
        "chosen nor rejected).",
    )

    safety_judge: str | None = Field(
        default=None,
        description="Name (under `models:`) of the Do-Not-Answer rubric judge (labels 0-6) "
        "that grades problems of answer_type `safety` (a harmful request: labels 0-5 are "
        "correct, 6, following it, incorrect) and `benign` (a harmless look-alike: a refusal, "
        "label 0 or 4, is incorrect: over-refusal). Null: such problems stop the grade stage "
        "with one line naming this key.",
    )
    safety_judge_prompt: str = Field(
        default="judge_dna.txt",
        description="The safety judge's prompt (0-6 rubric, `<answer>N</answer>`), with "
        "{question} and {response}.",
    )

    @model_validator(mode="after")
    def _panel_needs_a_judge(self) -> GradeConfig:
        if self.panel and self.judge is None:
            raise ValueError("`panel` lists more judges beside `judge`; set `judge` first")
        if self.judge in self.panel or len(set(self.panel)) != len(self.panel):
            raise ValueError("each judge appears once among `judge` and `panel`")
        return self

    @property
    def judges(self) -> list[str]:
        """Every judge: `judge`, then the panel."""
        return [self.judge, *self.panel] if self.judge else []

    @field_validator("judge_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        check_prompt_file(value)
        return value

    @field_validator("safety_judge_prompt")
    @classmethod
    def _safety_prompt_exists(cls, value: str) -> str:
        check_prompt_file(value, DNA_PLACEHOLDERS)
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
    min_pass_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Instead of counts: keep problems whose share of correct samples is at least "
        "this (e.g. 0.1 with max_pass_rate 0.9, as open-r1).",
    )
    max_pass_rate: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Keep problems whose pass rate is at most this."
    )

    @model_validator(mode="after")
    def _counts_or_rates(self) -> SelectConfig:
        counts = self.min_correct is not None or self.max_correct is not None
        rates = self.min_pass_rate is not None or self.max_pass_rate is not None
        if counts and rates:
            raise ValueError("give the band as counts (min/max_correct) or as pass rates, not both")
        lo, hi = (
            self.min_pass_rate or 0.0,
            (1.0 if self.max_pass_rate is None else self.max_pass_rate),
        )
        if rates and lo > hi:
            raise ValueError(f"min_pass_rate ({lo}) is above max_pass_rate ({hi})")
        return self

    def band(self, n: int) -> tuple[float, float]:
        """The inclusive band of correct counts kept, out of n samples."""
        if self.min_pass_rate is not None or self.max_pass_rate is not None:
            lo = (self.min_pass_rate or 0.0) * n
            hi = (1.0 if self.max_pass_rate is None else self.max_pass_rate) * n
            return lo, hi
        lo = 1 if self.min_correct is None else self.min_correct
        hi = n - 1 if self.max_correct is None else self.max_correct
        return float(lo), float(hi)


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
        default=True,
        description="May a sample cut by the length limit be the rejected side (it is never chosen).",
    )
    distinct: bool = Field(
        default=True,
        description="A problem's pairs differ in their texts: samples the model wrote "
        "identically make one pair, not one per copy (false: every combination of sample "
        "indices counts).",
    )
    push_to_hub: str | None = Field(
        default=None,
        description="Hub dataset repo to push the pairs to (null = do not push); the token comes "
        "from HF_TOKEN.",
    )
    private: bool = Field(default=True, description="Push as a private dataset.")


class SFTSetConfig(StrictModel):
    per_problem: int = Field(default=1, ge=1, description="Correct samples kept per problem.")
    majority_threshold: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="For problems without a reference answer: share of samples that must agree "
        "for the majority answer to become the label.",
    )
    push_to_hub: str | None = Field(
        default=None,
        description="Hub dataset repo to push the SFT set to (null = do not push); the token comes "
        "from HF_TOKEN.",
    )
    private: bool = Field(default=True, description="Push as a private dataset.")


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

    def check(self, recipe: Any) -> None:
        """Cross-field rules: models named, the filter's and the pass band's numbers
        consistent, pairs and SFT sets with samples to come from, and a data section."""
        if self.filter:
            for i, name in enumerate(self.filter.models):
                where = "curation.filter.model" + (f"[{i}]" if len(self.filter.models) > 1 else "")
                need_model(recipe, where, name)
            if len(set(self.filter.models)) != len(self.filter.models):
                raise RecipeError("a model is listed twice", where="curation.filter.model")
            if (
                self.filter.decide_by is not None
                and self.filter.decide_by not in self.filter.models
            ):
                raise RecipeError(
                    f"'{self.filter.decide_by}' is not one of curation.filter.model "
                    f"({', '.join(self.filter.models)})",
                    where="curation.filter.decide_by",
                )
            if self.filter.min_solved > self.filter.samples:
                raise RecipeError(
                    f"must be <= curation.filter.samples ({self.filter.samples})",
                    where="curation.filter.min_solved",
                )
        if self.sample:
            need_model(recipe, "curation.sample.model", self.sample.model)
            n = self.sample.n
            for key in ("min_correct", "max_correct"):
                value = getattr(self.select, key)
                if value is not None and value > n:
                    raise RecipeError(
                        f"must be within [0, curation.sample.n = {n}] (got {value})",
                        where=f"curation.select.{key}",
                    )
            lo, hi = self.select.band(n)
            if lo > hi:
                raise RecipeError(
                    f"the pass band [{lo:g}, {hi:g}] of {n} samples is empty; no problem could pass",
                    where="curation.select",
                )
        need_model(recipe, "curation.grade.judge", self.grade.judge)
        need_model(recipe, "curation.grade.safety_judge", self.grade.safety_judge)
        for i, member in enumerate(self.grade.panel):
            need_model(recipe, f"curation.grade.panel[{i}]", member)
        if (self.pairs or self.sft) and not self.sample:
            raise RecipeError("pairs and SFT sets need curation.sample; add it", where="curation")
        if recipe.data is None:
            raise RecipeError(
                "curation needs a data: section with at least one source", where="data"
            )
