"""A worked example of a new stage (docs/architecture.md): the length of every prepared
question, in words, with the longest ones set aside. A real stage would live in its package
(`curation/question_lengths.py`) and be added to `STAGES` in launch/stages.py with one line:

    question_lengths.STAGE,

after the `prepare` stage's declaration. `tests/test_runner.py` runs it that way.
"""

from __future__ import annotations

from ramen.stage import StageContext, StageDef


def question_lengths(ctx: StageContext) -> dict:
    """Stage `question_lengths`: one row per problem with its question's length in words; a
    question longer than `data.clean.max_question_tokens` words is a reject with its reason."""
    limit = ctx.recipe.data.clean.max_question_tokens  # held by the config below
    longest = 0
    for problem in ctx.input_rows("prepare"):
        ctx.count_input()
        words = len(str(problem.get("question", "")).split())
        longest = max(longest, words)
        if limit is not None and words > limit:
            ctx.reject({"id": problem["id"], "words": words}, "question_over_limit")
        else:
            ctx.keep({"id": problem["id"], "words": words})
    return {"longest_words": longest}


STAGE = StageDef(
    name="question_lengths",
    fn=question_lengths,
    needs=("prepare",),
    # keyed by the recipe paths the stage reads: their values are hashed, and the stage can
    # read nothing else of the recipe (launch/slices.py)
    config=lambda r: {"data.clean.max_question_tokens": r.data.clean.max_question_tokens},
    enabled=lambda r: r.data is not None,
    help="question lengths in words (the worked example of docs/architecture.md)",
)
