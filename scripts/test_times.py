"""Minutes per test file from a pytest JUnit XML report, as the Markdown table that
docs/contributing.md keeps (each test's time includes its setup, so a session fixture such
as the shared tiny run counts in the file of the first test that uses it).

    python scripts/test_times.py .ci/junit.xml
"""

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def per_file(path: str) -> dict[str, tuple[float, int]]:
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = "/".join(
            module[
                : next((i + 1 for i, m in enumerate(module) if m.startswith("test_")), len(module))
            ]
        )
        seconds[f"{name}.py"] += float(case.get("time") or 0)
        counts[f"{name}.py"] += 1
    return {f: (seconds[f], counts[f]) for f in seconds}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = sorted(per_file(argv[0]).items(), key=lambda kv: -kv[1][0])
    total = sum(s for s, _ in dict(rows).values())
    print("| file | tests | minutes |")
    print("|---|---:|---:|")
    for name, (secs, n) in rows:
        print(f"| `{name}` | {n} | {secs / 60:.1f} |")
    print(f"| **all** | {sum(n for _, n in dict(rows).values())} | **{total / 60:.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
