"""The stage runner: skip, rerun on change (that stage and after, nothing before), atomic outputs."""

import dataclasses
import json
from pathlib import Path

import pytest

from ramen.errors import UserError
from ramen.launch.recipe import recipe_from_dict
from ramen.launch.runner import Runner
from ramen.stage import StageDef

pytestmark = pytest.mark.unit


def make_stages(calls: list[str], fail_in: set[str] | None = None):
    fail_in = fail_in or set()

    def first(ctx):
        calls.append("first")
        for i in range(ctx.config["rows"]):
            ctx.count_input()
            if i % 5 == 0:
                ctx.reject({"i": i}, "multiple_of_five")
            else:
                ctx.keep({"i": i})

    def second(ctx):
        calls.append("second")
        for row in ctx.input_rows("first"):
            ctx.count_input()
            ctx.keep({"i": row["i"], "double": row["i"] * ctx.config["factor"]})
            if "second" in fail_in and row["i"] == 3:
                raise RuntimeError("injected fault")

    def third(ctx):
        calls.append("third")
        rows = list(ctx.input_rows("second"))
        ctx.write_json("total.json", {"sum": sum(r["double"] for r in rows)})

    return [
        StageDef("first", first, (), lambda r: {"rows": r.seed + 10}, lambda r: True, "first"),
        StageDef(
            "second",
            second,
            ("first",),
            lambda r: {"factor": r.models["m"].max_model_len},
            lambda r: True,
            "2",
        ),
        StageDef("third", third, ("second",), lambda r: {}, lambda r: True, "third"),
    ]


def recipe(tmp_path, seed=0, max_len=1024):
    return recipe_from_dict(
        {
            "name": "r",
            "seed": seed,
            "workdir": str(tmp_path),
            "models": {"m": {"path": "x/y", "max_model_len": max_len}},
        }
    )


def test_second_run_skips_everything(tmp_path):
    calls: list[str] = []
    assert Runner(recipe(tmp_path), make_stages(calls)).run() == {
        "first": "ran",
        "second": "ran",
        "third": "ran",
    }
    assert Runner(recipe(tmp_path), make_stages(calls)).run() == {
        "first": "skipped",
        "second": "skipped",
        "third": "skipped",
    }
    assert calls == ["first", "second", "third"]
    stage = tmp_path / "r" / "first"
    stats = json.loads((stage / "stats.json").read_text())
    assert stats == {"input": 10, "kept": 8, "rejected": {"multiple_of_five": 2}}
    assert sum(1 for _ in open(stage / "rejects.jsonl")) == 2
    manifest = json.loads((stage / "manifest.json").read_text())
    assert manifest["done"] is True and manifest["seed"] == 0 and "torch" in manifest["versions"]
    assert set(manifest["outputs"]) == {"data.jsonl", "rejects.jsonl", "stats.json"}


def test_config_change_reruns_that_stage_and_after_not_before(tmp_path):
    calls: list[str] = []
    Runner(recipe(tmp_path), make_stages(calls)).run()
    calls.clear()
    out = Runner(recipe(tmp_path, max_len=2048), make_stages(calls)).run()
    assert out == {"first": "skipped", "second": "ran", "third": "ran"}
    assert calls == ["second", "third"]
    total = json.loads((tmp_path / "r" / "third" / "total.json").read_text())
    assert total["sum"] == 2048 * sum(i for i in range(10) if i % 5)


def test_upstream_rerun_with_same_output_does_not_cascade(tmp_path):
    calls: list[str] = []
    Runner(recipe(tmp_path), make_stages(calls)).run()
    calls.clear()
    out = Runner(recipe(tmp_path), make_stages(calls)).run(force=["first"])
    assert out == {"first": "ran", "second": "skipped", "third": "skipped"}


def test_changed_input_reruns_downstream(tmp_path):
    calls: list[str] = []
    Runner(recipe(tmp_path), make_stages(calls)).run()
    calls.clear()
    out = Runner(recipe(tmp_path, seed=5), make_stages(calls)).run()  # first now makes 15 rows
    assert out == {"first": "ran", "second": "ran", "third": "ran"}


def test_failed_stage_leaves_old_outputs_whole_and_is_not_done(tmp_path):
    calls: list[str] = []
    Runner(recipe(tmp_path), make_stages(calls)).run()
    second = tmp_path / "r" / "second"
    before = (second / "data.jsonl").read_bytes()
    with pytest.raises(RuntimeError, match="injected fault"):
        Runner(recipe(tmp_path, max_len=4096), make_stages(calls, fail_in={"second"})).run()
    assert (second / "data.jsonl").read_bytes() == before  # no half-written file replaced it
    assert not (second / "manifest.json").exists()  # and the stage is not marked done
    assert not [p for p in second.iterdir() if p.name.endswith(".tmp")]
    calls.clear()
    out = Runner(recipe(tmp_path, max_len=4096), make_stages(calls)).run()
    assert out["second"] == "ran" and out["first"] == "skipped"


def test_lost_rows_are_a_bug_not_silence(tmp_path):
    def leaky(ctx):
        ctx.count_input(3)
        ctx.keep({"a": 1})

    stages = [StageDef("leaky", leaky, (), lambda r: {}, lambda r: True, "")]
    with pytest.raises(RuntimeError, match="lost rows"):
        Runner(recipe(tmp_path), stages).run()


def test_unknown_stage_names_suggest(tmp_path):
    with pytest.raises(UserError, match="did you mean 'second'"):
        Runner(recipe(tmp_path), make_stages([])).run(only=["secnd"])


def test_only_selected_stages_need_finished_inputs(tmp_path):
    with pytest.raises(UserError, match="needs stage 'first'"):
        Runner(recipe(tmp_path), make_stages([])).run(only=["second"])


def test_large_outputs_are_fingerprinted_not_reread(tmp_path, monkeypatch):
    import ramen.launch.runner as runner

    monkeypatch.setattr(runner, "LARGE_FILE", 1024)
    monkeypatch.setattr(runner, "BLOCK", 16)
    weights = tmp_path / "model" / "model.safetensors"
    weights.parent.mkdir()
    data = bytearray(b"x" * 4096)
    weights.write_bytes(bytes(data))
    before = runner._hash_output(weights.parent)
    data[2000] = ord("y")  # the middle of a large file is not read (documented in runs.md)
    weights.write_bytes(bytes(data))
    assert runner._hash_output(weights.parent) == before
    data[-1] = ord("z")
    weights.write_bytes(bytes(data))
    assert runner._hash_output(weights.parent) != before
    (weights.parent / "config.json").write_text("{}")  # small files are hashed in full
    assert runner._hash_output(weights.parent) != before


def test_library_output_goes_to_the_stage_log_and_a_failure_shows_its_tail(tmp_path, capfd):
    """While a stage runs, what libraries write to the process's stdout/stderr (at the file
    descriptor level, as vLLM's engine process and DeepSpeed do) lands in
    `<stage>/logs/stage.log`; ramen's console still reaches the terminal. A failed stage
    prints the log's tail and its path."""
    import os
    import sys

    from ramen.console import console

    def noisy(ctx):
        os.write(2, b"(EngineCore pid=1) WARNING a library warning\n")
        print("a library's print", flush=True)
        sys.stderr.write("a Python warning\n")
        console.print("ramen: my own line")
        if ctx.config["fail"]:
            raise RuntimeError("injected fault")

    stages = [StageDef("noisy", noisy, (), lambda r: {"fail": r.seed == 1}, lambda r: True, "n")]
    Runner(recipe(tmp_path), stages).run()
    out, err = capfd.readouterr()
    assert "ramen: my own line" in out
    assert "a library" not in out + err and "Python warning" not in out + err
    log = tmp_path / "r" / "noisy" / "logs" / "stage.log"
    assert log.read_text().splitlines() == [
        "(EngineCore pid=1) WARNING a library warning",
        "a library's print",
        "a Python warning",
    ]
    with pytest.raises(RuntimeError, match="injected fault"):
        Runner(recipe(tmp_path, seed=1), stages).run()
    out, err = capfd.readouterr()
    assert f"stage noisy failed; the last lines of {log}:" in err
    assert "a library's print" in err  # the tail of the log, now shown


def test_verbose_shows_library_output(tmp_path, capfd, monkeypatch):
    import os

    monkeypatch.setenv("RAMEN_VERBOSE", "1")

    def noisy(ctx):
        os.write(2, b"a library warning\n")

    Runner(recipe(tmp_path), [StageDef("n", noisy, (), lambda r: {}, lambda r: True, "n")]).run()
    assert "a library warning" in capfd.readouterr().err
    assert not (tmp_path / "r" / "n" / "logs").exists()


def test_the_worked_example_stage_is_one_module_and_one_line(tmp_path):
    """docs/architecture.md's worked example: a stage declared in its own module, added to
    the stage list with one line, runs, resumes and reruns like every other stage."""
    import importlib.util

    from ramen.launch.recipe import load_recipe
    from ramen.launch.stages import STAGES

    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "question_lengths.py"
    spec = importlib.util.spec_from_file_location("question_lengths", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    at = [s.name for s in STAGES].index("prepare") + 1
    stages = [*STAGES[:at], example.STAGE, *STAGES[at:]]  # the one line

    tiny = Path(__file__).resolve().parent.parent / "recipes" / "tiny.yaml"
    only = ["prepare", "question_lengths"]
    recipe = load_recipe(tiny, [f"workdir={tmp_path}", "data.clean.max_question_tokens=6"])
    assert Runner(recipe, stages).run(only=only) == {"prepare": "ran", "question_lengths": "ran"}
    out = tmp_path / "tiny" / "question_lengths"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rejected"]["question_over_limit"] > 0 and stats["longest_words"] > 6
    assert stats["input"] == stats["kept"] + stats["rejected"]["question_over_limit"]
    assert Runner(recipe, stages).run(only=only)["question_lengths"] == "skipped"
    recipe = load_recipe(tiny, [f"workdir={tmp_path}", "data.clean.max_question_tokens=8"])
    plan = dict(Runner(recipe, stages).dry_run(only=only))
    assert plan["question_lengths"].why == "config changed: data.clean.max_question_tokens"
    assert not plan["prepare"].run


# --------------------------------------------------------------------------- `ramen run --ahead`


def ahead_stages(calls: list[str]):
    """`first`, then `heavy`: a stage whose CPU half (rows counted, some rejected, a file
    written) can run ahead of it, as a train stage's rendering does before its GPU job."""

    def cpu_half(ctx) -> dict:
        calls.append(f"cpu half in {ctx.out_dir.name}")
        lines = []
        for row in ctx.input_rows("first"):
            ctx.count_input()
            if row["i"] % 3 == 0:
                ctx.reject(row, "multiple_of_three", seen_as=row["i"] * 10)
            else:
                lines.append(str(row["i"] * ctx.config["factor"]))
        (ctx.out_dir / "prepared").mkdir()
        (ctx.out_dir / "prepared" / "rows.txt").write_text("\n".join(lines))
        ctx.count_kept_input(len(lines))
        return {"rows": len(lines)}

    def heavy(ctx) -> dict:
        calls.append("heavy")
        result = ctx.take_ahead() or cpu_half(ctx)
        rows = (ctx.out_dir / "prepared" / "rows.txt").read_text().split("\n")
        ctx.write_json("total.json", {"sum": sum(map(int, rows)), "rows": result["rows"]})
        ctx.add_output("prepared")
        ctx.drop_ahead()
        return result

    first = make_stages([])[0]
    return [
        first,
        StageDef(
            "heavy",
            heavy,
            ("first",),
            lambda r: {"factor": r.models["m"].max_model_len},
            lambda r: True,
            "heavy",
            ahead=cpu_half,
        ),
    ]


def stage_files(stage: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(stage)): p.read_bytes()
        for p in sorted(stage.rglob("*"))
        if p.is_file() and "logs" not in p.parts and p.name != "manifest.json"
    }


def test_work_done_ahead_is_taken_whole_as_if_the_stage_had_done_it(tmp_path):
    plain, early = tmp_path / "plain", tmp_path / "early"
    Runner(recipe(plain), ahead_stages([])).run()
    calls: list[str] = []
    runner = Runner(recipe(early), ahead_stages(calls))
    runner.run(only=["first"])
    assert runner.ahead(["heavy"]) == {"heavy": "ran"}
    assert runner.ahead(["heavy"]) == {"heavy": "skipped"}  # done already for this key
    record = json.loads((early / "r" / "heavy" / "ahead" / "ahead.json").read_text())
    assert record["files"] == ["prepared"] and record["input"] == 8  # first kept 8 of 10
    assert record["rejected"] == {"multiple_of_three": 3} and record["input_kept"] == 5
    assert runner.run(only=["heavy"]) == {"heavy": "ran"}
    assert calls == [f"cpu half in {calls[0].split()[-1]}", "heavy"]  # not done twice
    assert calls[0].endswith(".tmp")  # the ahead work was written aside, then moved in place
    got, want = stage_files(early / "r" / "heavy"), stage_files(plain / "r" / "heavy")
    assert got == want  # rejects (the same lines), stats with its counts, the files
    assert not (early / "r" / "heavy" / "ahead").exists()  # taken, then removed
    assert Runner(recipe(early), ahead_stages(calls)).ahead(["heavy"]) == {"heavy": "skipped"}


def test_work_done_ahead_for_another_config_is_not_used(tmp_path, capsys):
    calls: list[str] = []
    Runner(recipe(tmp_path), ahead_stages(calls)).run(only=["first"])
    Runner(recipe(tmp_path), ahead_stages(calls)).ahead(["heavy"])
    calls.clear()
    Runner(recipe(tmp_path, max_len=70), ahead_stages(calls)).run(only=["heavy"])
    assert calls == ["heavy", "cpu half in heavy"]  # done again, in the stage
    assert "made for another config or input" in capsys.readouterr().out
    total = json.loads((tmp_path / "r" / "heavy" / "total.json").read_text())
    assert total["sum"] == 70 * sum(i for i in range(10) if i % 5 and i % 3)
    stats = json.loads((tmp_path / "r" / "heavy" / "stats.json").read_text())
    assert stats["input"] == 8 and stats["rejected"] == {"multiple_of_three": 3}


def test_a_killed_ahead_job_leaves_nothing_the_stage_would_take(tmp_path):
    def dies(ctx):
        ctx.count_input()
        (ctx.out_dir / "prepared").mkdir()
        raise KeyboardInterrupt

    stages = ahead_stages([])
    stages[1] = dataclasses.replace(stages[1], ahead=dies)
    runner = Runner(recipe(tmp_path), stages)
    runner.run(only=["first"])
    with pytest.raises(KeyboardInterrupt):
        runner.ahead(["heavy"])
    assert not (tmp_path / "r" / "heavy" / "ahead").exists()
    assert not list((tmp_path / "r" / "heavy").glob(".ahead*"))


def test_ahead_names_stages_without_a_cpu_half_and_needs_finished_inputs(tmp_path):
    runner = Runner(recipe(tmp_path), ahead_stages([]))
    with pytest.raises(UserError, match="needs stage 'first'"):
        runner.ahead(["heavy"])
    assert runner.ahead(["first"]) == {"first": "none"}
    with pytest.raises(UserError, match="did you mean 'heavy'"):
        runner.ahead(["heavvy"])
