"""Security properties (part of the reliability suite): secrets stay out of every file a run
writes, trust_remote_code is off unless the recipe turns it on (and then warned about), and
recipe values cannot point writes outside the run folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from ramen.launch.recipe import load_recipe

SECRETS = {
    "HF_TOKEN": "hf_SECRETtokenVALUE0123456789",
    "OPENAI_API_KEY": "sk-SECRETkeyVALUE0123456789",
    "HUGGING_FACE_HUB_TOKEN": "hf_SECRETsecondTOKEN987654",
}

RECIPE = """name: sec
models:
  m: {path: "tiny:weak"}
  remote: {path: "tiny:weak", trust_remote_code: true,
           engine: {backend: endpoint, url: "http://127.0.0.1:9/v1", api_key_env: OPENAI_API_KEY}}
data:
  sources: [{path: "bundled:problems.jsonl", licence: cc0-1.0}]
  allow_licences: [cc0-1.0]
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **SECRETS, "RAMEN_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ramen.launch.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.e2e
def test_secrets_never_reach_manifests_logs_or_sbatch_scripts(tmp_path):
    recipe = tmp_path / "sec.yaml"
    recipe.write_text(RECIPE)
    outputs = []
    for args in (
        ("run", str(recipe)),
        ("launch", str(recipe), "--backend", "local"),
        (
            "launch",
            str(ROOT / "recipes" / "qwen3-235b-dpo.yaml"),
            "--backend",
            "slurm",
            "--dry-run",
        ),
        ("env",),
    ):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files)
    assert any(p.suffix == ".sbatch" for p in files)
    for secret in SECRETS.values():
        for text in outputs:
            assert secret not in text
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.e2e
def test_trust_remote_code_is_off_unless_the_recipe_turns_it_on(tmp_path):
    recipe = tmp_path / "sec.yaml"
    recipe.write_text(RECIPE)
    r = load_recipe(recipe)
    assert r.models["m"].trust_remote_code is False
    assert r.models["remote"].trust_remote_code is True
    proc = run_cli("run", str(recipe), "--stages", "models", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "trust_remote_code" in line]
    assert len(warnings) == 1 and "models.remote.trust_remote_code is on" in warnings[0]


@pytest.mark.e2e
def test_writes_stay_in_the_run_folder(tmp_path):
    """Every name a recipe gives that becomes a path (run, model, benchmark label) is a plain
    name; a run writes nothing outside workdir/name."""
    recipe = tmp_path / "sec.yaml"
    recipe.write_text(RECIPE)
    (tmp_path / "work").mkdir()
    before = {p for p in tmp_path.rglob("*")}
    proc = run_cli("run", str(recipe), "workdir=work", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    new = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in new if not p.is_relative_to(tmp_path / "work" / "sec")]
    assert new and outside == []
