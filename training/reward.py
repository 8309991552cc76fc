"""GRPO's reward: ramen's grader on each completion, the verdicts curation and evaluation use.

A completion is read as sampling reads it (ramen/inference/parsing.py OutputParser: its reasoning and its
final answer apart; an answer cut off inside its reasoning is no answer), graded by the rules
against the problem's reference, and, when the step names a judge, what the rules leave
undecided goes to the judge (ramen/grading/judge.py). Reward 1 for `correct`, 0 for `incorrect`;
an answer still undecided, or a `judge_error`, scores None: TRL counts it as missing (no
advantage, out of the group's baseline), never as wrong. Every scored completion is appended
to `rewards-rank<N>.jsonl` in the stage folder (problem, completion text, verdict, method,
reward), so the rewards can be recomputed from what the model generated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ramen.grading.grader import rule_grade
from ramen.grading.judge import Judge, JudgeItem
from ramen.inference.parsing import OutputParser

REWARD = {"correct": 1.0, "incorrect": 0.0}  # anything else scores None (missing)


class GraderReward:
    """A TRL reward function (`reward_funcs=[GraderReward(...)]`) that grades like ramen."""

    __name__ = "ramen_grader"  # TRL names the metric after it: rewards/ramen_grader/mean

    def __init__(
        self,
        tokenizer: Any,
        parser: OutputParser,
        log_path: Path | None = None,
        judge: Judge | None = None,
    ):
        self.tokenizer, self.parser, self.judge = tokenizer, parser, judge
        self.log_path = log_path

    def text_of(self, completion: Any, ids: list[int] | None) -> str:
        """What the model wrote. TRL decodes with special tokens skipped; a family whose
        reasoning markers are special tokens (gpt-oss, Gemma 4) is decoded again from its ids
        with them kept."""
        if self.parser.special and ids is not None:
            return self.tokenizer.decode(ids, skip_special_tokens=False)
        if isinstance(completion, list):  # conversational: [{"role": "assistant", ...}]
            return str(completion[-1].get("content") or "")
        return str(completion)

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        completion_ids: list[list[int]] | None = None,
        *,
        answer: list[str],
        answer_type: list[str],
        problem_id: list[str],
        question: list[str] | None = None,
        trainer_state: Any = None,
        log_metric: Any = None,
        **_: Any,
    ) -> list[float | None]:
        rows = []
        for i, completion in enumerate(completions):
            text = self.text_of(completion, completion_ids[i] if completion_ids else None)
            reasoning, content = self.parser.split(text)
            grade = rule_grade(
                content,
                str(answer[i] or ""),
                str(answer_type[i] or "exactMatch"),
                str(question[i] or "") if question else "",
            )
            rows.append(
                {
                    "problem_id": str(problem_id[i]),
                    "text": text,
                    "content": content,
                    "answer": answer[i],
                    "answer_type": answer_type[i],
                    "verdict": grade.verdict,
                    "method": "rule",
                    "extracted": grade.extracted,
                }
            )
        undecided = [i for i, r in enumerate(rows) if r["verdict"] == "undecided"]
        if undecided and self.judge is not None:
            items = [
                JudgeItem(
                    (rows[i]["problem_id"], i),
                    str(question[i]) if question else "",
                    rows[i]["content"] or "",
                    str(answer[i]),
                )
                for i in undecided
            ]
            for (_, i), result in self.judge.judge(items):
                rows[i]["verdict"], rows[i]["method"] = result["verdict"], "judge"
        rewards = [REWARD.get(r["verdict"]) for r in rows]
        step = getattr(trainer_state, "global_step", None)
        for row, reward in zip(rows, rewards, strict=True):
            row["reward"], row["step"] = reward, step
        if log_metric is not None:  # beside TRL's reward mean: what the missing rewards were
            total = len(rows)
            log_metric("ramen/undecided", sum(r["verdict"] == "undecided" for r in rows) / total)
            log_metric(
                "ramen/judge_error", sum(r["verdict"] == "judge_error" for r in rows) / total
            )
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        return rewards
