"""The stages a recipe can run, in order: each module declares its own (a `StageDef`:
its inputs, its config, when it is on, the models it serves); this is the one list.

Adding a stage is its module and one line here, after the stages it reads
(docs/architecture.md has a worked example).
"""

from __future__ import annotations

from ramen.curation import (
    balance,
    clean,
    decontaminate,
    dedup,
    filter,
    grade,
    pairs,
    prepare,
    sample,
    select,
    sft,
    written,
)
from ramen.evaluation import evaluate, evaluate_checkpoints, evaluate_models, report
from ramen.launch import models
from ramen.launch.rounds import round_stages
from ramen.stage import StageDef
from ramen.training import stage as training

# The pipeline of one round, in order.
PIPELINE: list[StageDef] = [
    models.STAGE,
    written.STAGE,  # write (model-written problems), before prepare reads them
    prepare.STAGE,
    clean.STAGE,
    dedup.STAGE,
    decontaminate.STAGE,
    balance.STAGE,
    filter.STAGE,
    sample.STAGE,
    grade.STAGE,
    select.STAGE,
    pairs.STAGE,
    sft.STAGE,
    *training.STAGES,  # train, train-2, ...
    evaluate.EVALUATE,
    evaluate.EVALUATE_BASELINE,
    evaluate_models.STAGE,  # evaluation.models
    evaluate_checkpoints.STAGE,  # evaluation.checkpoints: all | every_K
]
# What each later round of `rounds:` repeats: the stages from the difficulty filter to the
# evaluation of the trained model (the filter only with `refilter: true`; launch/rounds.py).
REPEATED = PIPELINE[PIPELINE.index(filter.STAGE) : PIPELINE.index(evaluate.EVALUATE) + 1]

STAGES: list[StageDef] = [
    *PIPELINE,
    *round_stages(REPEATED),  # sample@2, ..., train@2, evaluate@2, then round 3 ... (`rounds:`)
    report.STAGE,
]
