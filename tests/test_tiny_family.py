"""The tiny model family ships in the repository (ramen/testing/tiny_family/): its family.json
names the builder version and the data it was built from, and the sha256 of every file; a
member whose files differ is an error that names the file; the builder still runs."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import RAMEN, ROOT

from ramen.testing import tiny, tiny_build

# each member's folder holds what vLLM, transformers and TRL load
MEMBER_FILES = {
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "ramen_tiny.json",
}


@pytest.mark.unit
def test_the_shipped_family_is_what_the_builder_and_its_data_build():
    """A builder change (BUILDER_VERSION) or a change to what the family learns from (the
    problem generator, the judge and write prompts) cannot land without a rebuild."""
    meta = tiny.read_metadata()
    assert meta["builder_version"] == tiny_build.BUILDER_VERSION, (
        f"family.json says builder v{meta['builder_version']}, the builder is "
        f"v{tiny_build.BUILDER_VERSION}: rebuild with `{tiny.REBUILD}` and commit the family"
    )
    assert meta["data_sha256"] == tiny_build.data_sha256(), (
        f"the problems or prompts the family learns from changed: rebuild with `{tiny.REBUILD}`"
    )
    assert meta["steps"] == json.loads(json.dumps(tiny_build.FULL.__dict__))


@pytest.mark.unit
def test_every_shipped_file_is_listed_with_its_sha256():
    meta = tiny.read_metadata()
    assert sorted(meta["members"]) == sorted(tiny.NAMES)
    total = 0
    for name in tiny.NAMES:
        folder = tiny.verify(name)  # every listed file present with its hash, nothing else
        files = meta["members"][name]["files"]
        assert MEMBER_FILES <= set(files), (name, sorted(files))
        assert json.loads((folder / "ramen_tiny.json").read_text())["role"] == name
        # the chat template ships with the tokenizer, in one of transformers' two places
        template = folder / "chat_template.jinja"
        config = json.loads((folder / "tokenizer_config.json").read_text())
        assert template.is_file() or "chat_template" in config, name
        total += sum((folder / f).stat().st_size for f in files)
    assert total < 25e6, f"the family is {total / 1e6:.1f} MB; the repository allows 25"


@pytest.mark.unit
def test_the_validation_scores_the_build_measured_are_recorded():
    """family.json keeps what the build measured on validation problems no member trained
    on: the strong solver right far more often than the weak one, the judge at its target."""
    scores = {n: m["scores"] for n, m in tiny.read_metadata()["members"].items()}

    def fraction(text: str) -> float:
        right, total = map(int, text.split("/"))
        return right / total

    weak = fraction(scores["weak"]["greedy_right_on_validation_problems"])
    strong = fraction(scores["strong"]["greedy_right_on_validation_problems"])
    assert strong > weak + 0.2, scores
    assert fraction(scores["judge"]["held_out_checks_right"]) >= tiny_build.JUDGE_TARGET, scores


@pytest.mark.unit
def test_a_changed_missing_or_unlisted_file_is_named_with_its_fix(tmp_path):
    root = tmp_path / "family"
    shutil.copytree(tiny.FAMILY_DIR, root)
    assert tiny.verify("weak", root) == root / "weak"

    weights = root / "weak" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(tiny.TinyFamilyError, match="model.safetensors differs from the sha256"):
        tiny.verify("weak", root)

    (root / "strong" / "tokenizer.json").unlink()
    with pytest.raises(tiny.TinyFamilyError, match="tiny:strong lacks .*tokenizer.json"):
        tiny.verify("strong", root)

    (root / "judge" / "notes.txt").write_text("a stray file")
    with pytest.raises(tiny.TinyFamilyError, match="files .* does not list: notes.txt"):
        tiny.verify("judge", root)

    (root / "family.json").unlink()
    with pytest.raises(tiny.TinyFamilyError, match="has no .*family.json.*git checkout"):
        tiny.verify("lax", root)


@pytest.mark.slow
def test_a_changed_family_stops_the_run_with_one_line_and_exit_2(tmp_path):
    """`ramen run` names the member file that differs and how to restore it; nothing runs."""
    root = tmp_path / "family"
    shutil.copytree(tiny.FAMILY_DIR, root)
    weights = root / "judge" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    proc = subprocess.run(
        [*RAMEN, "run", "recipes/tiny.yaml", "--stages", "models", f"workdir={tmp_path / 'runs'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "RAMEN_NO_PROGRESS": "1", tiny.FAMILY_ENV: str(root)},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr
    assert "models.judge.path" in errors[0] and "model.safetensors differs" in errors[0], errors
    assert not (tmp_path / "runs" / "tiny" / "models" / "models.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_builder_runs_every_member_for_a_few_steps(tmp_path):
    """The documented rebuild command, with --quick: every member trained a few steps, saved
    and listed in a family.json the resolver accepts (the code path, not the accuracy)."""
    out = tmp_path / "family"
    proc = subprocess.run(
        [sys.executable, "-m", "ramen.testing.tiny_build", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    meta = tiny.read_metadata(out)
    assert meta["builder_version"] == tiny_build.BUILDER_VERSION
    assert meta["data_sha256"] == tiny_build.data_sha256()
    assert meta["steps"] == tiny_build.QUICK.__dict__
    for name in tiny.NAMES:
        tiny.verify(name, out)
        built = json.loads((out / name / "ramen_tiny.json").read_text())
        assert built["role"] == name and built["builder_version"] == tiny_build.BUILDER_VERSION
    for name in ("weak", "strong", "lax", "moe", "oss"):
        assert "greedy_right_on_validation_problems" in meta["members"][name]["scores"]
    assert "held_out_checks_right" in meta["members"]["judge"]["scores"]
    # the judge's attempts both ran (the quick judge never reaches its target)
    assert "judge, attempt 2" in proc.stdout
    assert not list(tmp_path.glob(".family.*")), "the build's temporary folders are gone"
    # rebuilding only the architectures keeps every other member's files and scores
    before = tiny.read_metadata(out)
    proc = subprocess.run(
        [sys.executable, "-m", "ramen.testing.tiny_build", "--quick", "--out", str(out),
         "--only", "oss"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = tiny.read_metadata(out)
    for name in tiny.NAMES:
        tiny.verify(name, out)
        if name != "oss":
            assert after["members"][name] == before["members"][name], name
    assert "tiny models: moe" not in proc.stdout and "oss built" in proc.stdout
    assert not list(tmp_path.glob(".family.*"))


@pytest.mark.slow
def test_a_built_wheel_carries_the_family_and_the_data_files(tmp_path):
    """A non-editable install has what an editable one reads from the tree, under the one
    import name `ramen`: every package, every file of the tiny family, the bundled data and
    the prompts (declared as package data; built offline with the environment's setuptools)."""
    import zipfile

    source = tmp_path / "source"  # a build writes build/ and *.egg-info/ beside the sources
    shutil.copytree(
        ROOT, source,
        ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "__pycache__", "*.egg-info"),
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("ramen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # one import name: the stage folders install as ramen.curation, ramen.training, ...
    assert {n.split("/")[0] for n in names} == {"ramen", wheel.name.split("-py")[0] + ".dist-info"}
    for package in ("curation", "training", "evaluation", "launch", "launch/commands", "inference",
                    "grading", "grading/rules", "benchmarks"):  # fmt: skip
        assert f"ramen/{package}/__init__.py" in names, package
    wanted = [
        p.relative_to(ROOT).as_posix()
        for folder in (tiny.FAMILY_DIR, ROOT / "ramen" / "data", ROOT / "ramen" / "prompts")
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert len(wanted) > 40 and not [w for w in wanted if w not in names], sorted(
        set(wanted) - names
    )

    # installed from the wheel (its dependencies from this environment), away from the sources:
    # ramen's modules load from the install, the old top-level names are gone, the CLI starts
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"ramen"}, installed  # bin/: the `ramen` console script
    probe = (
        "import importlib.util, ramen.curation.pairs, ramen.testing.tiny as t;"
        "print(ramen.curation.pairs.__file__);"
        "print(t.verify('strong'));"
        "print(importlib.util.find_spec('curation'))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    module, strong, old = proc.stdout.splitlines()
    assert module.startswith(str(target)) and strong.startswith(str(target)), proc.stdout
    assert old == "None", "the old top-level name `curation` must not be importable"
    cli = subprocess.run(
        [sys.executable, "-m", "ramen.launch.cli", "validate", str(ROOT / "recipes" / "tiny.yaml")],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr

    # `pip install` into a clean venv (no packages at all, offline): site-packages gains
    # `ramen` and its metadata, nothing else; the rule grader (standard library only) runs there
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (site,) = venv.glob("lib/python*/site-packages")
    before = {p.name for p in site.iterdir()}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    added = {p.name for p in site.iterdir()} - before
    assert {n for n in added if not n.endswith(".dist-info")} == {"ramen"}, added
    grade = subprocess.run(
        [str(python), "-c", "from ramen.grading.rules import grade; print(grade('Answer: 1/2', '0.5'))"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert "verdict='correct'" in grade.stdout, grade.stdout + grade.stderr
