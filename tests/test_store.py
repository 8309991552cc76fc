"""The resumable sample store: torn tails, resume without loss or duplicates, shards, merge.

The engine here is a stand-in that crashes on purpose (fault injection); the real engine under
a real SIGKILL is tested in test_kill_resume.py."""

import json

import pytest

from ramen.errors import UserError
from ramen.inference.backend import Request, sample_seed
from ramen.inference.store import (
    Shard,
    check_settings,
    finalize,
    read_parts,
    repair_torn_tail,
    run_to_store,
)


def _requests(n_problems=5, n=3):
    return [
        Request(f"p{p}", i, [{"role": "user", "content": f"q{p}"}], sample_seed(0, f"p{p}", i))
        for p in range(n_problems)
        for i in range(n)
    ]


class CrashingEngine:
    """Answers requests in reverse order (as a real engine finishes out of order) and raises
    after `crash_after` samples, like a process killed mid-run."""

    def __init__(self, crash_after=None):
        self.crash_after, self.asked = crash_after, []

    def generate(self, requests):
        for k, req in enumerate(reversed(list(requests))):
            if self.crash_after is not None and k == self.crash_after:
                raise RuntimeError("killed")
            self.asked.append(req.key)
            yield {
                "problem_id": req.problem_id,
                "sample_index": req.sample_index,
                "text": f"s{req.seed}",
            }


@pytest.mark.unit
def test_repair_torn_tail(tmp_path):
    path = tmp_path / "shard.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": "half')
    assert repair_torn_tail(path) == len(b'{"a": 3, "b": "half')
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert repair_torn_tail(path) == 0
    only_torn = tmp_path / "torn.jsonl"
    only_torn.write_bytes(b'{"a"')
    repair_torn_tail(only_torn)
    assert only_torn.read_bytes() == b""


@pytest.mark.unit
def test_crash_then_resume_loses_and_duplicates_nothing(tmp_path):
    parts = tmp_path / "parts"
    reqs = _requests()
    with pytest.raises(RuntimeError, match="killed"):
        run_to_store(CrashingEngine(crash_after=6).generate, reqs, parts)
    before, _ = read_parts(parts)
    assert len(before) == 6
    # A kill can also leave a half-written line.
    torn = '{"problem_id": "p9", "sample_ind'
    with open(parts / Shard().filename, "a") as f:
        f.write(torn)
    engine = CrashingEngine()
    stats = run_to_store(engine.generate, reqs, parts)
    assert stats == {"resumed": 6, "generated": 9, "repaired_bytes": len(torn)}
    assert not set(engine.asked) & set(before), "done samples must not be asked for again"
    after, duplicates = read_parts(parts)
    assert duplicates == 0
    assert set(after) == {r.key for r in reqs}
    for key, row in before.items():
        assert after[key] == row, "a stored sample is never rewritten"
    out = tmp_path / "final.jsonl"
    assert finalize(parts, [r.key for r in reqs], out) == 15
    keys = [(r["problem_id"], r["sample_index"]) for r in map(json.loads, out.open())]
    assert keys == [r.key for r in reqs], "final file is in input order"


@pytest.mark.unit
def test_finalize_refuses_missing_samples(tmp_path):
    parts = tmp_path / "parts"
    reqs = _requests(2, 2)
    run_to_store(CrashingEngine().generate, reqs[:3], parts)
    with pytest.raises(UserError, match="1 of 4 samples are not generated yet"):
        finalize(parts, [r.key for r in reqs], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.unit
def test_shards_then_merge(tmp_path):
    parts = tmp_path / "parts"
    problems = list(range(7))
    owned = []
    for i in range(3):
        shard = Shard(i, 3)
        mine = shard.select(problems)
        owned += mine
        reqs = [r for r in _requests(7, 2) if int(r.problem_id[1:]) in mine]
        run_to_store(CrashingEngine().generate, reqs, parts, shard)
    assert sorted(owned) == problems, "shards cover the input exactly once"
    assert len(list(parts.glob("shard-*.jsonl"))) == 3
    out = tmp_path / "merged.jsonl"
    assert finalize(parts, [r.key for r in _requests(7, 2)], out) == 14


@pytest.mark.unit
def test_duplicate_lines_are_counted_and_dropped(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    row = {"problem_id": "p", "sample_index": 0, "text": "first"}
    (parts / "shard-00000-of-00002.jsonl").write_text(json.dumps(row) + "\n")
    (parts / "shard-00001-of-00002.jsonl").write_text(json.dumps({**row, "text": "second"}) + "\n")
    rows, duplicates = read_parts(parts)
    assert duplicates == 1 and rows[("p", 0)]["text"] == "first"


@pytest.mark.unit
def test_settings_guard(tmp_path):
    parts = tmp_path / "parts"
    check_settings(parts, {"temperature": 1.0}, reset=False)
    (parts / "shard-00000-of-00001.jsonl").write_text('{"problem_id": "p", "sample_index": 0}\n')
    assert check_settings(parts, {"temperature": 1.0}, reset=False) is False  # same: resume
    with pytest.raises(UserError, match="other settings"):
        check_settings(parts, {"temperature": 0.5}, reset=False)
    assert check_settings(parts, {"temperature": 0.5}, reset=True) is True  # samples discarded
    assert not (parts / "shard-00000-of-00001.jsonl").exists()


@pytest.mark.unit
@pytest.mark.parametrize("text", ["3", "1/0", "2/2", "a/b", "-1/2"])
def test_bad_shard_spec(text):
    with pytest.raises(UserError):
        Shard.parse(text)


@pytest.mark.unit
def test_sample_seeds_are_per_key_and_stable():
    assert sample_seed(0, "p", 0) == sample_seed(0, "p", 0)
    seeds = {sample_seed(0, f"p{i}", j) for i in range(50) for j in range(4)}
    assert len(seeds) == 200
    assert sample_seed(1, "p", 0) != sample_seed(0, "p", 0)


@pytest.mark.unit
def test_merge_command_after_shards(tmp_path):
    from conftest import cli

    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(json.dumps({"id": f"p{i}", "question": f"q{i}"}) + "\n" for i in range(5))
    )
    out = tmp_path / "samples.jsonl"
    parts = tmp_path / "samples.parts"
    reqs = _requests(5, 2)
    run_to_store(
        CrashingEngine().generate, [r for r in reqs if r.problem_id != "p3"], parts, Shard(0, 2)
    )
    proc = cli("generate", "--merge", "--input", str(problems), "--output", str(out), "--n", "2")
    assert proc.returncode == 2 and "2 of 10 samples are not generated yet" in proc.stderr
    run_to_store(
        CrashingEngine().generate, [r for r in reqs if r.problem_id == "p3"], parts, Shard(1, 2)
    )
    proc = cli(
        "generate",
        "--merge",
        "--input",
        str(problems),
        "--output",
        str(out),
        "--n",
        "2",
        check=True,
    )
    assert "merged 10 samples" in proc.stdout
    assert [json.loads(x)["problem_id"] for x in out.open()] == [
        f"p{i}" for i in range(5) for _ in range(2)
    ]


@pytest.mark.unit
def test_resume_and_merge_hold_keys_not_samples(tmp_path):
    """100 MB of long reasoning samples: a resume and the merge stay far below that in
    Python memory (they keep keys and byte offsets; samples are read back one at a time)."""
    import tracemalloc

    trace = "<think>" + "let me check that step once more. " * 600 + "</think> Answer: 7"

    def generate(reqs):
        for r in reqs:
            yield {"problem_id": r.problem_id, "sample_index": r.sample_index, "text": trace}

    reqs = _requests(n_problems=1250, n=4)  # 5,000 samples of ~20 KB
    parts = tmp_path / "parts"
    run_to_store(generate, reqs, parts)
    stored = sum(p.stat().st_size for p in parts.glob("shard-*.jsonl"))
    assert stored > 100e6
    tracemalloc.start()
    try:
        assert run_to_store(generate, reqs, parts)["resumed"] == len(reqs)
        _, resume_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert finalize(parts, [r.key for r in reqs], tmp_path / "final.jsonl") == len(reqs)
        _, merge_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resume_peak < stored / 20, f"resume held {resume_peak / 1e6:.0f} MB"
    assert merge_peak < stored / 20, f"merge held {merge_peak / 1e6:.0f} MB"


class _Target:
    """An EngineTarget stand-in: opens an engine that echoes each request's prompt (the real
    engines store `messages` the same way, ramen/inference/backend.py make_sample)."""

    gpus = 1

    def __init__(self):
        self.asked = []

    def open(self):
        import contextlib

        target = self

        class Echo:
            def generate(self, requests):
                for req in requests:
                    target.asked.append(req.key)
                    yield {
                        "problem_id": req.problem_id,
                        "sample_index": req.sample_index,
                        "messages": req.messages,
                    }

        return contextlib.nullcontext(Echo())


@pytest.mark.unit
def test_one_resume_rule_for_stages_and_shards(tmp_path):
    """generate_to_store, as `ramen generate --shard I/K` and the stages use it: a changed
    question redoes only its own samples, a shard prunes only its own file, and changed
    settings stop with the --force hint unless the caller resets."""
    from ramen.inference.sampling import generate_to_store, problem_requests

    parts = tmp_path / "parts"
    problems = [{"id": f"p{i}", "question": f"q{i}"} for i in range(4)]

    def run(problems, shard, settings=None, reset=False):
        target = _Target()
        requests = problem_requests(shard.select(problems), n=2, seed=0, temperature=1.0)
        stats = generate_to_store(
            requests, parts, settings=settings or {"model": "m"}, engine=target,
            description="test", who="test", shard=shard, reset=reset,
        )  # fmt: skip
        return stats, target.asked

    halves = [Shard(0, 2), Shard(1, 2)]
    for shard in halves:
        assert run(problems, shard)[0]["generated"] == 4
    assert len(read_parts(parts)[0]) == 8
    changed = [*problems[:3], {"id": "p3", "question": "q3 changed"}]  # p3 is shard 1's
    stats, asked = run(changed, halves[0])
    assert stats == {"resumed": 4, "generated": 0} and asked == []  # shard 0 left p3 alone
    stats, asked = run(changed, halves[1])
    assert asked == [("p3", 0), ("p3", 1)] and stats["generated"] == 2
    rows = read_parts(parts)[0]
    assert len(rows) == 8 and rows[("p3", 1)]["messages"][0]["content"] == "q3 changed"
    with pytest.raises(UserError, match="--force"):
        run(changed, halves[0], settings={"model": "other"})
    assert run(changed, Shard(), settings={"model": "other"}, reset=True)[0]["generated"] == 8
