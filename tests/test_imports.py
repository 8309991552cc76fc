"""The package map of docs/architecture.md, enforced (issue 33): ramen's modules import one way,
down the layers, with no cycles, and a function-level import of ramen's own code says why.

Layers, lowest first (a module may import its own layer's modules and lower layers'):
  core        ramen/*.py, ramen.prompts, ramen.data: errors, I/O, the stage contract, specs
  inference   ramen.inference: engines, backends, sampling, the sample store, output parsing
  grading     ramen.grading: the rule grader, judges, the DNA rubric, audits
  benchmarks  ramen.benchmarks: the benchmark kinds and their metrics
  stages      ramen.curation, ramen.training, ramen.evaluation (peers: none imports another),
              ramen.testing (the tiny family and its builder)
  launch      ramen.launch: the recipe, the stage list, the runner, the CLI; ramen.planning:
              `ramen plan` (reads recipes; launch imports it, never the reverse)
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {  # package -> its folder (pyproject.toml's package-dir)
    "ramen": ROOT / "ramen",
    "ramen.curation": ROOT / "curation",
    "ramen.training": ROOT / "training",
    "ramen.evaluation": ROOT / "evaluation",
    "ramen.launch": ROOT / "launch",
}
LAYER = {
    "core": 0,
    "inference": 1,
    "grading": 2,
    "benchmarks": 3,
    "curation": 4,
    "training": 4,
    "evaluation": 4,
    "testing": 4,
    "launch": 5,
    "planning": 5,
}
SAME_LAYER = {("launch", "planning")}  # the imports allowed between packages of one layer


def modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            if package == "ramen" and parts and parts[0] in ("tiny_family",):
                continue
            out[".".join([package, *parts])] = path
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYER else "core"


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool, bool]]:
    """(imported ramen module, line, at function level, with a reason) of every import in a
    file. A reason is a comment on the import's lines or on the line above the run of imports
    it belongs to."""
    text = path.read_text(encoding="utf-8")
    lines, tree = text.splitlines(), ast.parse(text)
    top = {id(n) for n in tree.body}
    typing_only = set()  # `if TYPE_CHECKING:` blocks are for annotations: never imported
    for n in tree.body:
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            typing_only |= {id(x) for x in ast.walk(n)}
    run_start = {}  # import node -> first line of its run of consecutive imports
    for parent in ast.walk(tree):
        for body in (getattr(parent, f, None) for f in ("body", "orelse", "finalbody")):
            if not isinstance(body, list):
                continue
            first = None
            for stmt in body:
                is_import = isinstance(stmt, ast.Import | ast.ImportFrom)
                first = (first or stmt.lineno) if is_import else None
                if is_import:
                    run_start[id(stmt)] = first
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        if not names:
            continue
        own = lines[node.lineno - 1 : node.end_lineno]
        start = run_start.get(id(node), node.lineno)
        above = lines[start - 2].strip() if start > 1 else ""
        reason = any("#" in x for x in own) or above.startswith("#")
        for name in names:
            if name.split(".")[0] != "ramen":
                continue
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
            out.append((name, node.lineno, id(node) not in top, reason))
    return out


def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, int, bool]]]]:
    known = modules()
    return known, {m: imports(p, known) for m, p in known.items()}


def test_imports_go_down_the_layers_and_stage_packages_do_not_import_each_other():
    known, edges = graph()
    wrong = []
    for module, targets in edges.items():
        a = package_of(module)
        for target, line, _, _ in targets:
            b = package_of(target)
            if a == b:
                continue
            if LAYER[b] > LAYER[a] or (LAYER[b] == LAYER[a] and (a, b) not in SAME_LAYER):
                wrong.append(
                    f"{known[module].relative_to(ROOT)}:{line} imports {target} ({a} -> {b})"
                )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycles():
    known, edges = graph()
    succ = defaultdict(set)
    for module, targets in edges.items():
        for target, _, _, _ in targets:
            if target != module and not module.startswith(target + "."):
                succ[module].add(target)  # a package's own __init__ aside
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(known):
        if v not in index:
            visit(v)
    assert not sccs, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in sccs)


def test_a_function_level_import_of_ramen_code_says_why():
    known, edges = graph()
    silent = []
    for module, targets in edges.items():
        for target, line, nested, reason in targets:
            if nested and not reason:
                silent.append(f"{known[module].relative_to(ROOT)}:{line} imports {target}")
    assert not silent, (
        "function-level imports without a reason (a comment on the line or above it; import "
        "at the top unless the module is heavy or optional):\n" + "\n".join(silent)
    )
