"""The LLM judge's parsing, retries and judge_error path; grading modes; the judge audit.

Engines here inject faults (unparsable replies) in-process; the real tiny judge under vLLM
is driven through `ramen grade` in test_grade_cli.py."""

import json

import pytest

from ramen.errors import UserError
from ramen.grading.audit import cohen_kappa, score_audit, write_audit
from ramen.grading.grader import grade_rows
from ramen.grading.judge import (
    Judge,
    check_prompt,
    default_prompt,
    parse_judgement,
    parse_reply,
    render_prompt,
)
from ramen.inference.backend import make_sample
from ramen.inference.parsing import prompt_opens_think

pytestmark = pytest.mark.unit

GOOD = "extracted_final_answer: 5\nreasoning: same value.\ncorrect: yes\nconfidence: 85%"


@pytest.mark.parametrize(
    "text, correct, extracted, confidence",
    [
        (GOOD, "yes", "5", 85),
        (
            "**extracted_final_answer**: None\n**reasoning**: no answer\n**correct**: no",
            "no",
            None,
            100,
        ),
        (
            '{"extracted_final_answer": "B", "reasoning": "x", "correct": "no", "confidence": 30}',
            "no",
            "B",
            30,
        ),
        ('```json\n{"correct": true, "extracted_final_answer": "4"}\n```', "yes", "4", 100),
        ("reasoning: fine\nCorrect: Yes.\nconfidence: 101", "yes", None, 100),
    ],
)
def test_parse_judgement(text, correct, extracted, confidence):
    parsed = parse_judgement(text)
    assert parsed["correct"] == correct
    assert parsed["extracted_final_answer"] == extracted
    assert parsed["confidence"] == confidence


@pytest.mark.parametrize(
    "text", ["", None, "correct: maybe", "The answer is 5.", "<think>hmm", '{"correct": "perhaps"}']
)
def test_unparsable_judgements(text):
    assert parse_judgement(text) is None


def test_prompt_rendering_keeps_braces():
    template = default_prompt()
    check_prompt(template, "x")
    out = render_prompt(template, "Find {x | x^2 = 1}", "\\boxed{\\{-1, 1\\}}", "{-1, 1}")
    assert "Find {x | x^2 = 1}" in out and "\\boxed{\\{-1, 1\\}}" in out
    with pytest.raises(UserError, match=r"\{correct_answer\}"):
        check_prompt("Q: {question} R: {response}", "--judge-prompt")


def test_prefilled_think_is_detected():
    assert prompt_opens_think("<|im_start|>assistant\n<think>\n")
    assert not prompt_opens_think("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not prompt_opens_think("<|im_start|>assistant\n")
    from ramen.inference.backend import Request

    req = Request("p", 0, [], 1)
    common = dict(
        model="m",
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=5,
        max_tokens=9,
        seed=1,
        attempts=1,
    )
    cut = make_sample(req, text="thinking without an end", prefilled_think=True, **common)
    assert cut["content"] is None and cut["reasoning"] == "thinking without an end"
    done = make_sample(req, text="so 4.\n</think>\n\nAnswer: 4", prefilled_think=True, **common)
    assert done["content"] == "Answer: 4" and done["reasoning"] == "so 4."


class ScriptedEngine:
    """Replies from a script per attempt (fault injection): e.g. garbage first, then valid."""

    def __init__(self, script):
        self.script, self.calls = script, 0

    def generate(self, requests):
        self.calls += 1
        for req in requests:
            text = self.script(req)
            yield {
                "problem_id": req.problem_id,
                "sample_index": req.sample_index,
                "content": text,
                "reasoning": "",
                "finish_reason": "stop",
            }


def _rows():
    return [
        {"id": "a", "question": "2+2?", "answer": "4", "response": "Answer: 4"},  # rule: correct
        {"id": "b", "question": "2+2?", "answer": "4", "response": "Answer: 5"},  # rule: incorrect
        {
            "id": "c",
            "question": "colour?",
            "answer": "red",
            "response": "Answer: crimson",
        },  # undecided
        {"id": "d", "question": "2+2?", "answer": "4", "response": "<think>long"},  # no answer
        {"id": "e", "question": "who?", "answer": "", "response": "Answer: me"},  # no reference
    ]


def test_judge_error_after_retries_is_not_incorrect():
    engine = ScriptedEngine(lambda req: "I think it is fine")
    graded, stats = grade_rows(
        _rows(), judge=Judge(engine, default_prompt(), retries=2), mode="all"
    )
    by_id = {r["id"]: r for r in graded}
    assert engine.calls == 3, "first try + 2 retries"
    for rid in "abc":
        assert by_id[rid]["verdict"] == "judge_error" and by_id[rid]["method"] == "judge"
        assert by_id[rid]["judge"]["attempts"] == 3
    assert by_id["d"]["verdict"] == "incorrect" and by_id["d"]["method"] == "rule"
    assert by_id["e"]["verdict"] == "undecided" and by_id["e"]["rule"]["method"] == "no_reference"
    assert stats["verdicts"] == {"incorrect": 1, "judge_error": 3, "undecided": 1}


def test_retry_recovers_and_only_undecided_go_to_judge():
    def script(req):
        return GOOD.replace("yes", "no") if req.extra["attempt"] == 1 else "garbage"

    engine = ScriptedEngine(script)
    graded, stats = grade_rows(
        _rows(), judge=Judge(engine, default_prompt(), retries=2), mode="undecided"
    )
    by_id = {r["id"]: r for r in graded}
    assert stats["judged"] == 1
    assert by_id["a"]["verdict"] == "correct" and by_id["a"]["method"] == "rule"
    assert by_id["b"]["verdict"] == "incorrect" and by_id["b"]["method"] == "rule"
    assert by_id["c"]["verdict"] == "incorrect" and by_id["c"]["judge"]["attempts"] == 2
    assert by_id["c"]["extracted"] == "5", "the judge's extraction is reported when it decided"


def test_no_judge_leaves_undecided():
    graded, stats = grade_rows(_rows(), judge=None)
    assert stats["verdicts"] == {"correct": 1, "incorrect": 2, "undecided": 2}
    assert stats["judged"] == 0


def test_judge_parts_resume(tmp_path):
    engine = ScriptedEngine(lambda req: GOOD)
    kwargs = dict(mode="all", parts_dir=tmp_path / "parts", settings={"v": 1})
    first, _ = grade_rows(_rows(), judge=Judge(engine, default_prompt()), **kwargs)
    again = ScriptedEngine(lambda req: pytest.fail("judged twice"))
    second, _ = grade_rows(_rows(), judge=Judge(again, default_prompt()), **kwargs)
    assert first == second and again.calls == 0


def test_cohen_kappa_known_values():
    # 20 items: both "yes" 10, both "no" 5, judge yes/human no 3, judge no/human yes 2.
    judge = ["y"] * 10 + ["n"] * 5 + ["y"] * 3 + ["n"] * 2
    human = ["y"] * 10 + ["n"] * 5 + ["n"] * 3 + ["y"] * 2
    # po = 15/20; pe = (13/20)(12/20) + (7/20)(8/20) = 0.53; kappa = 0.22/0.47
    assert cohen_kappa(judge, human) == pytest.approx(0.22 / 0.47)
    assert cohen_kappa(["y", "n"], ["y", "n"]) == pytest.approx(1.0)
    assert cohen_kappa(["y", "y"], ["y", "y"]) is None


def test_audit_sample_and_score(tmp_path):
    graded = [
        {
            "id": str(i),
            "question": "q",
            "answer": "a",
            "response": "Answer: a",
            "method": "judge",
            "verdict": "correct" if i < 18 else "incorrect",
            "extracted": "a",
        }
        for i in range(20)
    ]
    path = tmp_path / "audit.jsonl"
    assert write_audit(graded, 10, path) == 10
    rows = [json.loads(x) for x in path.open()]
    assert {r["judge_verdict"] for r in rows} == {"correct", "incorrect"}, "rare verdicts are kept"
    with pytest.raises(UserError, match="no row has a human_label"):
        score_audit(path)
    for k, r in enumerate(rows):
        r["human_label"] = (
            r["judge_verdict"] if k < 8 else ("no" if r["judge_verdict"] == "correct" else "yes")
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = score_audit(path)
    assert s["labelled"] == 10 and s["agreement"] == pytest.approx(0.8)
    rows[0]["human_label"] = "perhaps"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(UserError, match="line 1"):
        score_audit(path)


def test_judge_engine_is_not_loaded_when_nothing_needs_judging():
    from ramen.inference.engine import LazyEngine

    def opener():
        raise AssertionError("the judge model was loaded for nothing")

    engine = LazyEngine(opener, "judge")
    rows = [r for r in _rows() if r["id"] in "abd"]  # all decided by rules
    graded, stats = grade_rows(rows, judge=Judge(engine, default_prompt()), mode="undecided")
    assert stats["judged"] == 0 and not engine.opened
    assert [r["verdict"] for r in graded] == ["correct", "incorrect", "incorrect"]


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("Correct", "correct"),
        ("Incorrect", "incorrect"),
        ("incorrect.", "incorrect"),
        ("The answers differ, so: Incorrect", "incorrect"),
        ("**Correct**", "correct"),
        ("At first it looked correct, but no: Incorrect", "incorrect"),  # the last one named
    ],
)
def test_bare_verdict_replies(reply, verdict):
    assert parse_reply(reply, "verdict")["verdict"] == verdict


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("A", "correct"),
        ("B", "incorrect"),
        ("C", "invalid"),
        ("Final Judgment: B", "incorrect"),
        ("\\boxed{C}", "invalid"),
        ("Comparing both, the answer is A.", "correct"),
    ],
)
def test_abc_replies(reply, verdict):
    assert parse_reply(reply, "abc")["verdict"] == verdict


@pytest.mark.parametrize(
    "reply, fmt", [("Maybe", "verdict"), ("none of these", "abc"), ("", "abc"), ("ok", "hle")]
)
def test_unparsable_in_every_format(reply, fmt):
    assert parse_reply(reply, fmt) is None


def test_invalid_is_its_own_verdict_never_incorrect():
    engine = ScriptedEngine(lambda req: "C")
    graded, stats = grade_rows(
        _rows(), judge=Judge(engine, default_prompt("abc"), fmt="abc"), mode="all"
    )
    by_id = {r["id"]: r for r in graded}
    for rid in "abc":
        assert by_id[rid]["verdict"] == "invalid" and by_id[rid]["method"] == "judge"
        assert by_id[rid]["extracted"] == by_id[rid]["rule"]["extracted"], "rules' extraction kept"
    assert stats["verdicts"]["invalid"] == 3 and "judge_error" not in stats["verdicts"]


def test_each_format_has_a_default_prompt_with_every_placeholder():
    from ramen.grading.judge import FORMAT_PROMPTS, check_prompt

    for fmt in FORMAT_PROMPTS:
        check_prompt(default_prompt(fmt), fmt)


class BudgetEngine(ScriptedEngine):
    """A scripted judge with a real BPE tokenizer and chat template (the tiny family's, trained
    here in a second) and a small context, recording the prompts it receives."""

    def __init__(self, script, limit):
        super().__init__(script)
        from ramen.inference.backend import ChatRenderer
        from ramen.testing.tiny_build import build_tokenizer, judge_prompt_template

        tokenizer = build_tokenizer([judge_prompt_template(), "Let me think. Answer: 4"])
        self.renderer = ChatRenderer(tokenizer, {"enable_thinking": False})
        self.limit, self.prompts = limit, []

    def prompt_limit(self):
        return self.renderer, self.limit

    def generate(self, requests):
        requests = list(requests)
        self.prompts += [r.messages for r in requests]
        yield from super().generate(requests)


def test_an_over_long_response_is_cut_at_its_start_to_fit_the_judge():
    engine = BudgetEngine(lambda req: GOOD, limit=700)
    long = "Let me think. " * 400 + "Answer: 4"
    rows = [
        {"id": "long", "question": "2+2?", "answer": "4", "response": long},
        {"id": "short", "question": "2+2?", "answer": "4", "response": "Answer: 4"},
    ]
    judge = Judge(engine, default_prompt())
    graded, stats = grade_rows(rows, judge=judge, mode="all")
    by_id = {r["id"]: r for r in graded}
    assert stats["judge_inputs_cut"] == 1 and judge.cut == 1
    assert by_id["long"]["judge"]["input_cut_tokens"] > 0
    assert "input_cut_tokens" not in by_id["short"]["judge"]
    budget = 700 - min(judge.max_tokens, 512, 700 // 4)
    for messages in engine.prompts:
        assert len(engine.renderer.render(messages)[1]) <= budget
    sent = next(m[0]["content"] for m in engine.prompts if "cut to fit" in m[0]["content"])
    assert "Answer: 4" in sent, "the end of the response, where the answer is, is kept"


def _panel(rule, *scripts):
    from ramen.grading.judge import JudgePanel

    members = [
        (f"j{i}", Judge(ScriptedEngine(s), default_prompt(fmt), fmt=fmt))
        for i, (s, fmt) in enumerate(scripts)
    ]
    return JudgePanel(members, rule)


@pytest.mark.parametrize(
    "rule, replies, verdict",
    [
        ("majority", ["Correct", "A", GOOD.replace("yes", "no")], "correct"),
        ("unanimous", ["Correct", "A", GOOD.replace("yes", "no")], "undecided"),
        ("unanimous", ["Incorrect", "B"], "incorrect"),
        ("majority", ["Correct", "B"], "undecided"),  # a tie decides nothing
        ("majority", ["C", "C", "Correct"], "invalid"),
    ],
)
def test_panel_rules(tmp_path, rule, replies, verdict):
    fmts = {"Correct": "verdict", "Incorrect": "verdict", "A": "abc", "B": "abc", "C": "abc"}
    scripts = [((lambda r, text=text: text), fmts.get(text, "hle")) for text in replies]
    rows = [{"id": "c", "question": "colour?", "answer": "red", "response": "Answer: crimson"}]
    path = tmp_path / "judge-disagreements.jsonl"
    graded, stats = grade_rows(rows, judge=_panel(rule, *scripts), disagreements_path=path)
    [row] = graded
    assert row["verdict"] == verdict and set(row["judge"]["panel"]) == {
        f"j{i}" for i in range(len(replies))
    }
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    agree = len({r["verdict"] for r in row["judge"]["panel"].values()}) == 1
    assert stats["panel_disagreements"] == len(lines) == (0 if agree else 1)
    if lines:
        assert lines[0]["panel_verdict"] == verdict and lines[0]["question"] == "colour?"
        assert {j["verdict"] for j in lines[0]["judges"].values()} == {
            r["verdict"] for r in row["judge"]["panel"].values()
        }


def test_a_panel_needs_its_judge_and_distinct_members():
    from ramen.curation.config import GradeConfig

    assert GradeConfig(judge="a", panel=["b", "c"]).judges == ["a", "b", "c"]
    for bad in (
        {"panel": ["b"]},
        {"judge": "a", "panel": ["a"]},
        {"judge": "a", "panel": ["b", "b"]},
    ):
        with pytest.raises(ValueError):
            GradeConfig(**bad)
