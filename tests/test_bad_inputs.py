"""The bad-input corpus (tests/corpus/): broken recipes exit 2 with one line naming the key or
line; broken data rows land in rejects with their reason and the run goes on.

Each recipe file's first line says what its one error line must contain (`# expect: ...`).
bad_rows.jsonl holds good rows among broken ones; bad_rows.expected.json says, per broken
line, which stage rejects it and why.
"""

import json
from pathlib import Path

import pytest
from conftest import ROOT, cli, ramen

from ramen.launch.cli import main

CORPUS = Path(__file__).parent / "corpus"
RECIPES = sorted((CORPUS / "bad_recipes").glob("*.yaml"))


@pytest.mark.unit
def test_the_corpus_is_large_enough():
    assert len(RECIPES) >= 25
    assert len(json.loads((CORPUS / "bad_rows.expected.json").read_text())["rejected"]) >= 25


@pytest.mark.unit
@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_bad_recipe_exits_2_with_one_line_naming_the_key(path, capfd, tmp_path, monkeypatch):
    expect = path.read_text(errors="replace").splitlines()[0].removeprefix("# expect: ")
    monkeypatch.chdir(tmp_path)  # nothing may be written anywhere by a bad recipe
    code = main(["validate", str(path)])
    out, err = capfd.readouterr()
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expect in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert not list(tmp_path.iterdir())


@pytest.mark.unit
def test_a_python_tag_in_a_recipe_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    proc = cli("validate", str(recipe))
    assert proc.returncode == 2 and not marker.exists()


@pytest.mark.e2e
def test_broken_rows_go_to_rejects_with_their_reason_and_the_run_goes_on(tmp_path):
    recipe = tmp_path / "rows.yaml"
    recipe.write_text(
        f"""name: badrows
models:
  m: {{path: "tiny:weak"}}
data:
  sources:
    - path: {CORPUS / "bad_rows.jsonl"}
      licence: cc0-1.0
      fields: {{reasoning: reasoning}}
  allow_licences: [cc0-1.0]
  forbid_generators: [gpt, claude, gemini]
  clean: {{tokenizer: m, max_question_tokens: 4096}}
"""
    )
    proc = ramen("run", str(recipe), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = tmp_path / "runs" / "badrows"
    expected = json.loads((CORPUS / "bad_rows.expected.json").read_text())
    rejects = {
        stage: [json.loads(line) for line in (run / stage / "rejects.jsonl").open()]
        for stage in ("prepare", "clean")
    }
    for want in expected["rejected"]:
        # a row is found by its id; a line that is no row (bad JSON, bad UTF-8) by its number
        key, value = ("id", want["id"]) if want["id"] else ("line", want["line"])
        got = [r for r in rejects[want["stage"]] if (r.get("row") or {}).get(key) == value]
        assert len(got) == 1, want
        assert got[0]["reason"] == want["reason"], (want, got[0])
    kept = [json.loads(line)["id"] for line in (run / "decontaminate" / "data.jsonl").open()]
    assert kept == expected["kept"]
    prepare = json.loads((run / "prepare" / "stats.json").read_text())
    clean = json.loads((run / "clean" / "stats.json").read_text())
    dropped = sum(prepare["rejected"].values()) + sum(clean["rejected"].values())
    assert dropped == len(expected["rejected"])  # every broken row counted, none twice
    assert prepare["input"] == len(expected["rejected"]) + len(expected["kept"])


@pytest.mark.unit
def test_corpus_recipes_are_not_shipped_recipes():
    assert not any(p.parent == ROOT / "recipes" for p in RECIPES)
