import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RAMEN = [sys.executable, "-m", "launch.cli"]

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
