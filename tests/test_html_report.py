"""report.html (ramen/html.py, evaluation/report.py): one self-contained page with the report's
tables and plots and a browser over every sample, checked in a real headless Chromium
(Debian's package, installed by scripts/browser.sh): a view with filters and an open sample is
loaded, its DOM read back and a screenshot taken, on a page of 20,000 samples."""

import json
import os
import random
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT

from ramen.evaluation.report import html_report, sample_rows, solved_by
from ramen.html import PAGE

HOSTILE = "</script><script>document.title='owned'</script><b>bold</b>"


def _row(model_seed: int, bench: str, i: int, rng: random.Random) -> dict:
    correct = rng.random() < 0.3
    finish = "length" if rng.random() < 0.05 else "stop"
    return {
        "benchmark": bench,
        "id": f"{bench}-{i:05d}",
        "sample_index": 0,
        "category": rng.choice(["Math", "Physics", "Chemistry"]),
        "question": f"Question {i} of {bench}: what is {i} + {model_seed}?",
        "answer": str(i),
        "reasoning": "step " * rng.randint(1, 40),
        "content": HOSTILE if i == 7 else f"Answer: {i if correct else -i}",
        "extracted": str(i if correct else -i),
        "verdict": "correct" if correct else "incorrect",
        "score": int(correct),
        "failure": None if correct else rng.choice(["execution_slip", "wrong_approach"]),
        "finish_reason": finish,
        "completion_tokens": rng.randint(5, 900),
        "judge_raw": None if correct else "extracted_final_answer: x\ncorrect: no",
    }


def _runs(n_per_model: int) -> dict[str, list[dict]]:
    out = {}
    for m, name in enumerate(["trained", "base"]):
        rng = random.Random(m)
        out[name] = [_row(m, ("hle", "qa")[i % 2], i, rng) for i in range(n_per_model)]
    return out


# ----------------------------------------------------------------------------- unit


@pytest.mark.unit
def test_solved_by_names_the_only_model_that_got_a_question_right():
    def r(model_score, bench="hle", qid="q"):
        return {"benchmark": bench, "id": qid, "sample_index": 0, "score": model_score}

    rows = {
        "a": [r(1, qid="q1"), r(0, qid="q2"), r(1, qid="q3"), r(0, qid="q4"), r(1, qid="q5")],
        "b": [r(0, qid="q1"), r(1, qid="q2"), r(1, qid="q3"), r(0, qid="q4")],
    }
    got = solved_by(rows)
    assert got == {("hle", "q1"): "only a", ("hle", "q2"): "only b",
                   ("hle", "q3"): "every model", ("hle", "q4"): "no model"}  # fmt: skip
    # q5 has no first sample of b: left out, not "only a"


@pytest.mark.unit
def test_the_page_is_self_contained_and_model_output_cannot_break_out(tmp_path):
    import base64

    plots = tmp_path / "plots"
    plots.mkdir()
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    (plots / "hle-accuracy.png").write_bytes(png)
    md = "# Report\n\n| metric | a |\n|---|---|\n| accuracy | 50.00 |\n\n![p](plots/hle-accuracy.png)\n"
    text = html_report(md, plots, sample_rows(_runs(20)), "t")
    assert "<table>" in text and "<td>50.00</td>" in text
    assert "data:image/png;base64," in text and 'src="plots/' not in text
    assert "http://" not in text and "https://" not in text  # nothing loaded from outside
    block = re.search(
        r'<script type="application/json" id="samples-data">(.*?)</script>', text, re.S
    )
    data = json.loads(block.group(1))
    assert len(data["rows"]) == 40
    assert any(r.get("content") == HOSTILE for r in data["rows"])  # kept verbatim, as data
    assert HOSTILE not in text  # ... but never as markup in the page


@pytest.mark.unit
def test_a_long_reasoning_is_shortened_on_the_page_and_says_so():
    from ramen.html import TEXT_HEAD, TEXT_TAIL, dataset

    long = "".join(f"step {i}. " for i in range(20_000))  # ~190,000 characters
    data = dataset([{"reasoning": long, "content": "Answer: 4"}], filters=[], columns=[],
                   detail=[("reasoning", "Reasoning", True), ("content", "Final", False)])  # fmt: skip
    shown = data["rows"][0]["reasoning"]
    assert shown.startswith(long[:TEXT_HEAD]) and shown.endswith(long[-TEXT_TAIL:])
    cut = len(long) - TEXT_HEAD - TEXT_TAIL
    assert f"[... {cut:,} characters left out here; the whole text is in data.jsonl ...]" in shown
    assert len(shown) < TEXT_HEAD + TEXT_TAIL + 200
    assert data["rows"][0]["content"] == "Answer: 4"  # short texts as they are


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def chromium():
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "browser.sh")], capture_output=True, text=True
    )
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1]
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    return proc.stdout.strip().splitlines()[-1]


def _browse(chromium: str, page: Path, fragment: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--window-size=1200,1400",
         *extra, f"file://{page}#{fragment}"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def _console_errors(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if "CONSOLE" in x and ("Uncaught" in x or "Error" in x)]


@pytest.mark.slow
@pytest.mark.timeout(10 * 60)
def test_the_report_works_in_a_real_browser_with_20000_samples(chromium, tmp_path):
    runs = _runs(10_000)
    samples = sample_rows(runs)
    assert len(samples) == 20_000
    t0 = time.monotonic()
    page = tmp_path / "report.html"
    page.write_text(html_report("# Evaluation report: big\n", tmp_path, samples, "big"))
    print(
        f"20,000 samples: report.html {page.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s"
    )

    # a view: one model, one benchmark, wrong answers cut by the length limit, page 1, first open
    want = [s for s in samples if s["model"] == "base" and s["benchmark"] == "qa"
            and s["verdict"] == "incorrect" and s["finish"] == "length"]  # fmt: skip
    assert len(want) > PAGE  # more than one page: paging is exercised
    fragment = "only=samples&model=base&benchmark=qa&verdict=incorrect&finish=length&open=0"
    t0 = time.monotonic()
    dom = _browse(chromium, page, fragment, "--dump-dom")
    print(f"load and render in headless Chromium: {time.monotonic() - t0:.1f} s")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_out = dom.stdout
    count = re.search(r'<span id="count">([^<]*)</span>', html_out).group(1)
    assert count.startswith(f"{len(want)} of 20000 samples; page 1 of {-(-len(want) // PAGE)}"), (
        count
    )
    body = re.search(r"<tbody>(.*)</tbody>", html_out, re.S).group(1)
    rows = re.findall(r'<tr class="(row[^"]*)" data-index="\d+">(.*?)</tr>', body, re.S)
    assert len(rows) == PAGE  # one page in the DOM, not 20,000 rows
    cells = re.findall(r"<td>(.*?)</td>", rows[0][1])
    assert cells[:3] == ["base", "qa", want[0]["id"]], cells
    # the open sample shows its texts: question and reference plainly, the reasoning folded
    detail = re.search(r'<tr class="detail-row">(.*?)</tr>', body, re.S).group(1)
    assert want[0]["question"] in detail and "<details>" in detail and "Reasoning" in detail
    assert [c for c, _ in rows].count("row open-row") == 1 and rows[0][0] == "row open-row"
    # no script error on the page or in the console
    assert re.search(r'<div id="js-errors" hidden="">\s*</div>', html_out), "JavaScript error shown"
    assert not _console_errors(dom.stderr), _console_errors(dom.stderr)

    # the hostile sample: shown as text, no injected element ran (the title is unchanged)
    hostile = _browse(chromium, page, "only=samples&q=document.title&open=0", "--dump-dom")
    assert "<title>Evaluation report: big</title>" in hostile.stdout
    assert "&lt;/script&gt;&lt;script&gt;document.title" in hostile.stdout
    assert "<b>bold</b>" not in hostile.stdout.split("<tbody>", 1)[1]

    shot = tmp_path / "view.png"
    out = _browse(chromium, page, fragment, f"--screenshot={shot}")
    assert out.returncode == 0 and shot.is_file()
    from PIL import Image

    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert image.size == (1200, 1400) and high - low > 100  # text on a page, not a blank image
    print(f"screenshot: {shot}")


@pytest.mark.slow
@pytest.mark.timeout(10 * 60)
def test_a_run_report_html_opens_in_the_browser(chromium, tiny_run):
    page = tiny_run["dir"] / "report" / "report.html"
    text = page.read_text()
    data = json.loads(re.search(r'id="samples-data">(.*?)</script>', text, re.S).group(1))
    rows = [json.loads(x) for s in ("evaluate", "evaluate-baseline")
            for x in (tiny_run["dir"] / s / "data.jsonl").open()]  # fmt: skip
    assert len(data["rows"]) == len(rows)
    assert "Evaluation report: tiny" in text and "data:image/png;base64," in text
    dom = _browse(chromium, page, "only=samples&benchmark=hle&open=0", "--dump-dom")
    hle = sum(r["benchmark"] == "hle" for r in rows)
    assert re.search(rf'<span id="count">{hle} of {len(rows)} samples', dom.stdout), dom.stdout[
        -3000:
    ]
    assert not _console_errors(dom.stderr)


@pytest.mark.slow
@pytest.mark.timeout(10 * 60)
def test_the_pairs_page_shows_which_samples_became_chosen_and_rejected(chromium, tiny_run):
    run = tiny_run["dir"]
    page = run / "pairs" / "browse.html"
    data = json.loads(
        re.search(r'id="samples-data">(.*?)</script>', page.read_text(), re.S).group(1)
    )
    selected = [json.loads(x) for x in (run / "select" / "data.jsonl").open()]
    assert len(data["rows"]) == sum(len(p["samples"]) for p in selected)
    # each role recounted from the pairs written
    pairs = [json.loads(x)["meta"] for x in (run / "pairs" / "data.jsonl").open()]
    chosen = {(m["problem_id"], m["chosen_index"]) for m in pairs}
    rejected = {(m["problem_id"], m["rejected_index"]) for m in pairs}
    roles = {(r["problem"], r["sample"]): r["role"] for r in data["rows"]}
    assert {k for k, v in roles.items() if v == "chosen"} == chosen
    assert {k for k, v in roles.items() if v == "rejected"} == rejected
    for r in data["rows"]:
        assert r["source"] == "bundled:problems.jsonl" and r["licence"] == "cc0-1.0"
        if r["role"] == "chosen":
            assert r["verdict"] == "correct"
        if r["role"] == "rejected":
            assert r["verdict"] == "incorrect"
    dom = _browse(chromium, page, "only=samples&role=chosen&open=0", "--dump-dom")
    total = len(data["rows"])
    assert re.search(rf'<span id="count">{len(chosen)} of {total} samples', dom.stdout)
    assert not _console_errors(dom.stderr)
