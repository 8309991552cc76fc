"""Rule-grader throughput: rows/s of `ramen grade`'s rule pass, on 1 worker and on 2.

The rows mix what graders meet: integers, fractions and decimals, thousands separators,
scientific notation, LaTeX expressions that need math-verify, multiple choice, sets and
intervals, free text (undecided: for the judge) and responses cut inside their reasoning.

    .venv/bin/python benchmarks/grader_throughput.py
    .venv/bin/python benchmarks/grader_throughput.py --rows 20000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (reference, response final content, answer_type)
CASES = [
    ("42", "Answer: 42", "exactMatch"),
    ("42", "Answer: 41", "exactMatch"),
    ("3/4", "Answer: 0.75", "exactMatch"),
    ("1234567", "The answer is 1,234,567.", "exactMatch"),
    ("1.5e-3", "Answer: 0.0015", "exactMatch"),
    ("\\frac{\\sqrt{2}}{2}", "Answer: \\frac{1}{\\sqrt{2}}", "exactMatch"),
    ("x^2 + 2x + 1", "\\boxed{(x+1)^2}", "exactMatch"),
    ("2\\pi", "Answer: 6.283185307", "exactMatch"),
    ("B", "Answer: (b)", "multipleChoice"),
    ("C", "Answer: A or C", "multipleChoice"),
    ("\\{1, 2, 3\\}", "Answer: \\{3, 1, 2\\}", "exactMatch"),
    ("[0, 1)", "Answer: (0, 1]", "exactMatch"),
    ("Paris", "Answer: the city of Paris", "exactMatch"),
    ("TC^0", "Answer: TC0", "exactMatch"),
    ("7", None, "exactMatch"),
    ("5 cm", "Answer: 50 mm", "exactMatch"),
    ("(1, 2), (3, 4)", "So the pairs are \\boxed{(3, 4)} and \\boxed{(1, 2)}.", "exactMatch"),
    ("x = 3 \\text{ or } x = 5", "Final Answer: x = 5 or x = 3", "exactMatch"),
    ("\\frac{10!}{3!\\,7!}", "**Final Answer:** 120", "exactMatch"),
    # the second pass's classes (issue 37)
    ("3 - \\mathrm{e}", "\\boxed{3 + \\mathrm{e}}", "exactMatch"),
    ("20:15", "Answer: 8:15 P.M.", "exactMatch"),
    ("x^2+3x+2", "\\boxed{x^3+3x+2}", "exactMatch"),
    ("\\frac{\\pi}{3}", "Answer: pi/3", "exactMatch"),
    (
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        "\\boxed{\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}}",
        "exactMatch",
    ),
    ("1.66666666667e-1", "\\boxed{\\frac{1}{6}}", "exactMatch"),
    ("12", "<answer>12</answer>", "exactMatch"),
]


def make_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ref, content, kind = CASES[rng.randrange(len(CASES))]
        response = "<think>working</think>\n\n" + content if content else "<think>cut off"
        rows.append(
            {
                "id": str(i),
                "question": "q",
                "answer": ref,
                "answer_type": kind,
                "response": response,
            }
        )
    return rows


def bare_math_verify(rows: list[dict]) -> int:
    """math-verify alone on the same rows: parse the reference and the final content, verify.
    Timeouts off (SIGALRM), as ramen runs it; the count of rows it calls equal."""
    from math_verify import parse, verify

    from ramen.grading.grader import final_content

    same = 0
    for row in rows:
        content = final_content(row)
        if content is None:
            continue
        gold = parse(f"${row['answer']}$", parsing_timeout=None)
        pred = parse(content, parsing_timeout=None)
        same += bool(gold and pred and verify(gold, pred, timeout_seconds=None))
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("RAMEN_NO_PROGRESS", "1")
    from ramen.grading.grader import rule_grades

    rows = make_rows(args.rows)
    rule_grades(rows[:200], 1)  # warm-up: imports, sympy caches
    bare_math_verify(rows[:200])
    t = time.perf_counter()
    bare_math_verify(rows)
    bare_secs = time.perf_counter() - t
    print(f"bare math-verify (parse + verify), 1 process: {args.rows / bare_secs:,.0f} rows/s")
    results = {}
    for workers in sorted({1, args.workers}):
        t = time.perf_counter()
        grades = rule_grades(rows, workers)
        secs = time.perf_counter() - t
        results[workers] = args.rows / secs
        print(
            f"{workers} worker(s): {args.rows / secs:,.0f} rows/s ({args.rows} rows, {secs:.2f}s)"
        )
    print(
        f"rule grader / bare math-verify, 1 worker each: {bare_secs * results[1] / args.rows:.2f}x"
    )
    print("verdicts:", dict(Counter(g.verdict for g in grades)))
    print(f"cpus on this machine: {os.cpu_count()}")
    print("reproduce: .venv/bin/python benchmarks/grader_throughput.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
