"""Which way the tiny solvers went in a finished tiny run: in small steps ("Step: ...") or in
one line, in the pairs (chosen, rejected; and how many pairs are distinct) and in each evaluated model's held-out answers, with
how often each way was right (docs/evaluation.md, "On the tiny recipe").

    .venv/bin/python scripts/tiny_ways.py runs/tiny
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEPS = "Step: "


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def main(run: Path) -> None:
    print("command: .venv/bin/python scripts/tiny_ways.py", run)
    pairs = rows(run / "pairs" / "data.jsonl")
    distinct = {json.dumps([p["prompt"], p["chosen"], p["rejected"]]) for p in pairs}
    print(f"pairs: {len(pairs)}, {len(distinct)} distinct (prompt, chosen, rejected)")
    for side in ("chosen", "rejected"):
        steps = sum(STEPS in (p[side][-1].get("reasoning_content") or "") for p in pairs)
        print(f"pairs: {steps} of {len(pairs)} {side} in steps")
    for stage in ("evaluate", "evaluate-baseline"):
        answers = [r for r in rows(run / stage / "data.jsonl") if r.get("benchmark") == "heldout"]
        answers = [r for r in answers if r.get("sample_index", 0) == 0]
        for way, pick in (("in steps", True), ("in one line", False)):
            mine = [r for r in answers if (STEPS in (r.get("reasoning") or "")) == pick]
            right = sum(bool(r.get("correct")) for r in mine)
            print(f"{stage}: held-out first samples {way}: {len(mine)} of {len(answers)}, "
                  f"{right} right")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny"))
