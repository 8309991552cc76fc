"""The `# Plan:` line in each shipped GPU recipe's header: what `ramen plan` says of it.

    .venv/bin/python scripts/plan_summaries.py          # exit 1 and list the stale headers
    .venv/bin/python scripts/plan_summaries.py --write  # rewrite them

The line is the plan's peak per GPU (the stage that peaks), the training stages' peak and host
memory per node, on the recipe's own `launch:` and `plan:` settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "# Plan (`ramen plan`): "


def summary(path: Path) -> str | None:
    from ramen.launch.recipe import load_recipe
    from ramen.launch.stages import STAGES
    from ramen.planning.plan import GB, plan

    recipe = load_recipe(path)
    if not recipe.launch.gpus_per_node:
        return None
    result = plan(recipe, STAGES)
    gpu = recipe.plan.gpu_memory_gb
    top = max(result.stages, key=lambda s: s.gpu_peak)
    train = [s for s in result.stages if s.stage.startswith("train")]
    parts = [f"peak {top.gpu_peak / GB:.0f} GB of {gpu:.0f} per GPU ({top.stage})"]
    for s in train:
        parts.append(
            f"{s.stage} {s.gpu_peak / GB:.0f} GB per GPU, {s.host_per_node / GB:,.0f} GB host per node"
        )
    return PREFIX + "; ".join(parts)


def updated(text: str, line: str) -> str:
    lines = text.splitlines()
    lines = [x for x in lines if not x.startswith(PREFIX)]
    at = next((i + 1 for i, x in enumerate(lines) if x.startswith("# Check it:")), 0)
    return "\n".join([*lines[:at], line, *lines[at:]]) + "\n"


def main(write: bool) -> int:
    stale = []
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        line = summary(path)
        if line is None:
            continue
        text = path.read_text(encoding="utf-8")
        new = updated(text, line)
        if new != text:
            stale.append(path.name)
            if write:
                path.write_text(new, encoding="utf-8")
    if stale and not write:
        print("stale plan lines: " + ", ".join(stale) + " (run with --write)")
        return 1
    print(("rewrote: " + ", ".join(stale)) if stale else "every plan line is current")
    return 0


if __name__ == "__main__":
    sys.exit(main("--write" in sys.argv[1:]))
