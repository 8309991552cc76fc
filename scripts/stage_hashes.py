"""Every shipped recipe's stage config hashes: what decides whether a user's finished stage is
skipped or run again. tests/test_stage_hashes.py compares them with the recorded table
(tests/corpus/stage_config_hashes.json), so a change that would rerun users' finished stages
(a renamed config key, a moved module whose name a config records, a new default) is seen.
When the rerun is deliberate, record the new table and say why in the commit:

    .venv/bin/python scripts/stage_hashes.py --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "corpus" / "stage_config_hashes.json"


def shipped_hashes() -> dict[str, dict[str, str]]:
    """{recipe file name: {stage: config hash}} for every recipe in recipes/."""
    from ramen.launch.recipe import load_recipe
    from ramen.launch.runner import config_hashes
    from ramen.launch.stages import STAGES

    return {
        path.name: config_hashes(load_recipe(path), STAGES)
        for path in sorted((ROOT / "recipes").glob("*.yaml"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write the table to {TABLE}")
    args = parser.parse_args()
    table = json.dumps(shipped_hashes(), indent=1, sort_keys=True) + "\n"
    if args.write:
        TABLE.write_text(table)
        print(f"wrote {TABLE}", file=sys.stderr)
    else:
        sys.stdout.write(table)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
