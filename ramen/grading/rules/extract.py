"""Extraction: the final answer a response states (answer lines, `\\boxed{}`, "the answer is",
`答え`), the latest marker winning."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ramen.grading.rules.text import braced

# A final content without an answer marker is itself the answer when it is this short and on
# one line ("42", "B", "x = 5"); a longer one is for the judge.
BARE_ANSWER_MAX_CHARS = 40

# "Answer: 4", "**Answer:** 4", "Final Answer: 34", "**Final Answer**: 34", "Exact Answer: 4".
_ANSWER_LINE = re.compile(
    r"^[ \t>#\-•✅✔☑️🎯👉➡→=]*\**[ \t]*(?:the[ \t]+)?(?:final|exact)?[ \t]*answer[ \t]*\**[ \t]*[:：][ \t]*(.*?)[ \t]*$",
    re.I | re.M,
)
# "The final answer is $10,455$." (the payload runs to the end of the sentence or line).
# "**Final Answer**" or "## Final Answer" alone on its line: the answer is the next block.
_FINAL_HEADING = re.compile(
    r"^[ \t>#]*\**[ \t]*final[ \t]+answer[ \t]*\**[ \t]*:?[ \t]*\**[ \t]*$", re.I | re.M
)
_THE_ANSWER_IS = re.compile(
    r"\b(?:the|my)\s+(?:final\s+)?answer\s+(?:is|would be|=)\s*[:：]?\s*(.+?)\s*(?:\.\s|\.?\s*$)",
    re.I | re.M,
)
# Japanese and Chinese: 答え：B / 答えは 12 です / 最終的な答え：12 / 答案：B / 答案是 12 / 解答：12
_JA_ANSWER = re.compile(
    r"(?:答え|答案|解答|正解)\s*(?:は|是|为|為|[:：])\s*(.+?)\s*(?:です|。|$)", re.M
)
# `#### 18`: grade-school maths sets' final line
_HASHES = re.compile(r"^[ \t]*####[ \t]*(\S.*?)[ \t]*$", re.M)
# <answer>12</answer>, the tags reasoning-model prompts often ask for
_ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.S | re.I)


def _all_boxed(text: str) -> list[tuple[int, str]]:
    """(position, content) of every `\\boxed{...}` / `\\fbox{...}`, in order."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        got = braced(text, m.end() - 1)
        if got is not None and got[0].strip():
            out.append((m.start(), got[0].strip()))
    return out


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the stated final answer (the last marker in the text)
    boxed: tuple[str, ...]  # every \boxed{} after the last non-boxed marker, in order


_HOPE = re.compile(r"\s*I hope (?:it|this) is correct\.?\s*$", re.I)
_SENTENCE_TAIL = re.compile(
    r"^[^.]*?\s(?:is|are|equals|was|would be)\s+(?P<tail>[^\s].*?)\s*\.?$", re.I
)


def _clean_payload(text: str) -> str:
    t = _HOPE.sub("", text.strip()).strip().strip("*").strip()
    if re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}", re.sub(r"\$[^$]*\$", "", t)):
        # a sentence: "The largest $n$ is 34." -> "34"
        m = _SENTENCE_TAIL.match(t)
        if m and not re.search(r"\s(?:is|are)\s", m.group("tail")):
            t = m.group("tail")
    boxes = _all_boxed(t)
    if boxes:  # "Answer: $\\boxed{5}$", "The final answer is \\boxed{3} and \\boxed{5}"
        return ", ".join(b for _, b in boxes)
    inner = _THE_ANSWER_IS.search(t)
    if inner and inner.start() == 0:
        t = inner.group(1)
    return t.strip().strip("*").strip()


def extract(content: str | None) -> Extraction:
    """The answer a final content states. The marker latest in the text wins, whatever its
    kind, so an intermediate `\\boxed{}` never beats a later "The final answer is ..."."""
    if not content or not content.strip():
        return Extraction(None, ())
    found: list[tuple[int, int, str, str]] = []  # (start, end, payload, marker)
    for m in _ANSWER_LINE.finditer(content):
        if m.group(1).strip(" *"):
            found.append((m.start(), m.end(), m.group(1), "answer_line"))
    for m in _FINAL_HEADING.finditer(content):
        rest = content[m.end() :]
        block = rest.lstrip("\n").split("\n\n", 1)[0]
        if block.strip() and not _all_boxed(block):  # a box is found as a box below
            end = m.end() + len(rest) - len(rest.lstrip("\n")) + len(block)
            found.append((m.start(), end, block.strip(), "answer_line"))
    for pattern, marker in (
        (_THE_ANSWER_IS, "answer_is"),
        (_JA_ANSWER, "ja"),
        (_ANSWER_TAG, "tag"),
        (_HASHES, "hashes"),
    ):
        for m in pattern.finditer(content):
            found.append((m.start(), m.end(), m.group(1), marker))
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", content):
        got = braced(content, m.end() - 1)
        if got is None or not got[0].strip():
            continue
        inside = [f for f in found if f[3] != "boxed" and f[0] <= m.start() < f[1]]
        if not inside:  # a box inside an answer line belongs to that line
            found.append((m.start(), got[1], got[0].strip(), "boxed"))
    if not found:
        bare = content.strip()
        if "\n" not in bare and len(bare) <= BARE_ANSWER_MAX_CHARS:
            return Extraction(_clean_payload(bare) or None, ())
        return Extraction(None, ())
    found.sort(key=lambda f: f[0])
    _, _, payload, marker = found[-1]
    last_other = max((f[0] for f in found if f[3] != "boxed"), default=-1)
    boxed = tuple(f[2] for f in found if f[3] == "boxed" and f[0] > last_other)
    answer = _clean_payload(payload)
    return Extraction(answer or None, boxed if marker == "boxed" else ())


def extract_answer(content: str | None) -> str | None:
    """The final answer in a response's final content, or None if it states none."""
    return extract(content).answer
