import contextlib
import io
import multiprocessing.process
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RAMEN = [sys.executable, "-m", "ramen.launch.cli"]

# vLLM's import path reads the CPU's facts once through py-cpuinfo, which runs `file` on the
# interpreter; done here, so unit tests that use vLLM's reasoning parsers start no process.
import cpuinfo  # noqa: E402, F401

# matplotlib builds its font cache at first use by running `fc-list`: on a fresh machine that is
# a process start inside whichever unit test draws first. Done here, once, before any test.
import matplotlib.font_manager  # noqa: E402, F401

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Every test has exactly one tier (docs/contributing.md):
#   unit  - pure logic in this process: no model, no subprocess (`make test-fast`)
#   slow  - real models or real processes, one component at a time
#   e2e   - whole recipes through `ramen run` / `ramen launch` (the shared tiny run)
#   slurm - the real scheduler (scripts/slurm-local.sh)
TIERS = ("unit", "slow", "e2e", "slurm")
TIER_PROBLEMS = pytest.StashKey[list]()
COLLECTED = pytest.StashKey[list]()  # every collected test's node id, before `-m` deselects


def pytest_configure(config):
    """Under pytest-xdist (`make test`), each worker gets its own share of the CPUs, inherited
    by every process its tests start. Unpinned, two workers' vLLM CPU engines bind their
    OpenMP threads to the same cores and wait on each other: two tiny `ramen generate` runs
    side by side took 203.5 s each unpinned, 58.1 s pinned, 63.2 s for one alone
    (benchmarks/engines_side_by_side.py; docs/contributing.md)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= count:
        os.sched_setaffinity(0, cpus[int(worker.removeprefix("gw")) % count :: count])


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything: every collected test counts
def pytest_collection_modifyitems(config, items):
    problems = []
    for item in items:
        tiers = sorted({m.name for m in item.iter_markers() if m.name in TIERS})
        if len(tiers) != 1:
            problems.append(f"{item.nodeid}: {'+'.join(tiers) or 'no tier'}")
    config.stash[TIER_PROBLEMS] = problems
    config.stash[COLLECTED] = [item.nodeid for item in items]
    # `make test` runs two pytest-xdist workers with --dist loadgroup: a group runs on one
    # worker. Every test of a module that uses the shared tiny run goes with it (a session
    # fixture is built once per worker), each other module's model tests stay together (their
    # module fixtures: one engine, one evaluation run), and unit tests spread freely.
    tiny_modules = {item.module.__name__ for item in items if "tiny_run" in item.fixturenames}
    for item in items:
        if item.get_closest_marker("unit") is None:
            module = item.module.__name__
            item.add_marker(
                pytest.mark.xdist_group("tiny-run" if module in tiny_modules else module)
            )


class _UnitTierViolation(AssertionError):
    pass


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise _UnitTierViolation(
            f"a unit test {what}; mark it slow (real models or processes) or e2e instead"
        )

    return refuse


@pytest.fixture(autouse=True)
def _unit_tier_stays_in_process(request, monkeypatch):
    """A `unit` test that starts a process or loads a tiny model fails: the tier stays in this
    process and loads no model."""
    if request.node.get_closest_marker("unit") is None:
        return
    from ramen.testing import tiny

    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("started a process"))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refuse("started a process"))
    monkeypatch.setattr(tiny, "model_path", _refuse("needs a tiny model"))


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """The CLI in this process (unit tier): `ramen.launch.cli.main` with the same argv, its exit code
    and what it printed, shaped like `ramen(...)`'s result."""
    from ramen.launch.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.environ.get("RAMEN_NO_PROGRESS")
    os.environ["RAMEN_NO_PROGRESS"] = "1"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse: --help, usage errors
                code = e.code if isinstance(e.code, int) else 1
    finally:
        if old is None:
            os.environ.pop("RAMEN_NO_PROGRESS", None)
        else:
            os.environ["RAMEN_NO_PROGRESS"] = old
    proc = subprocess.CompletedProcess(["ramen", *args], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(
            f"ramen {' '.join(args)} failed ({code}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def ramen(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run(
        [*RAMEN, *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "RAMEN_NO_PROGRESS": "1"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ramen {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def write_recipe(tmp_path):
    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One uninterrupted `ramen run recipes/tiny.yaml` from a fresh folder, shared by the slow
    suites. Read it, never change it: copy `dir` (see `copy_run`) to run stages again."""
    work = tmp_path_factory.mktemp("tiny-run")
    recipe = work / "tiny.yaml"
    shutil.copy(ROOT / "recipes" / "tiny.yaml", recipe)
    first = ramen("run", str(recipe), f"workdir={work / 'runs'}", check=True)
    return {"recipe": recipe, "work": work, "dir": work / "runs" / "tiny", "first": first}


def copy_run(tiny: dict, dest: Path) -> dict:
    """A private copy of `tiny_run` under `dest` (a run folder can move: nothing reruns)."""
    shutil.copy(tiny["recipe"], dest / "tiny.yaml")
    shutil.copytree(tiny["dir"], dest / "runs" / "tiny", symlinks=True)
    return {**tiny, "recipe": dest / "tiny.yaml", "work": dest, "dir": dest / "runs" / "tiny"}


def output_files(stage_dir: Path, manifest: dict) -> dict[str, bytes]:
    """Every file a stage's manifest lists as output (folders walked), keyed by relative path,
    but stats.json (it counts how much was resumed: differs by design)."""
    files = {}
    for name in manifest["outputs"]:
        if name == "stats.json":
            continue
        path = stage_dir / name
        for f in sorted([path] if path.is_file() else path.rglob("*")):
            if f.is_file():
                files[f.relative_to(stage_dir).as_posix()] = f.read_bytes()
    return files
