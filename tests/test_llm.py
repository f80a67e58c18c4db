"""The optional LLM coder against a small fake OpenAI-compatible server started by the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from covalue.coding.llm import LLMCoder, build_prompt, parse_answer
from covalue.errors import CovalueError
from covalue.framework import load_codebook
from covalue.model.incident import Span

VCD = load_codebook("vcd")
TEXT = "Waited three weeks for my refund and nobody answers the phone. Never flying with you again."
VALID = {
    "valence": "co_destruction",
    "reasons": ["R4.4", "R4.2"],
    "negative_factors": ["employee_indifference"],
    "positive_factors": [],
    "phase": "after",
    "initiator": "provider",
    "wellbeing_decline": "customer",
    "coping": ["exit"],
    "resources_lost": ["money", "time"],
    "evidence": {"reasons:R4.4": "Waited three weeks for my refund", "coping:exit": "never flying with you again"},
}


class FakeServer:
    """Answers /chat/completions with queued contents and records every request body."""

    def __init__(self) -> None:
        self.answers: list[str | int] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                answer = server.answers.pop(0) if server.answers else json.dumps(VALID)
                if isinstance(answer, int):
                    self.send_response(answer)
                    self.end_headers()
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


def test_prompt_is_built_from_the_codebook() -> None:
    prompt = build_prompt(VCD)
    for dimension in VCD.dimension_ids:
        assert f"## {dimension}:" in prompt
    assert "- R4.4 [R4]: Slow processes" in prompt
    assert "R4:" not in prompt.replace("[R4]", "")  # groupings are not offered as answers
    assert "Required (non-empty) when valence is one of co_destruction, mixed" in prompt


def test_valid_answer_becomes_codings_with_located_evidence(server: FakeServer) -> None:
    coder = LLMCoder(server.url, "tiny-model", VCD, api_key="secret")
    [coding] = coder.predict([TEXT], ids=["t1"])
    assert coding.incident_id == "t1"
    assert coding.codes("reasons") == ("R4.4", "R4.2")
    assert coding.codes("valence") == ("co_destruction",)
    assert coding.decisions["reasons"][0].evidence == (Span(0, 32),)
    exit_span = coding.decisions["coping"][0].evidence[0]
    assert TEXT[exit_span.start : exit_span.end] == "Never flying with you again"
    assert coding.decisions["reasons"][1].evidence == ()
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret"
    assert request["body"]["model"] == "tiny-model" and request["body"]["temperature"] == 0.0
    assert TEXT in request["body"]["messages"][1]["content"]
    assert not coder.failures


def test_invalid_answers_are_retried_with_the_problems_then_reported(server: FakeServer) -> None:
    bad = dict(VALID, reasons=["R4.9"], phase=["before", "after"])
    server.answers = ["sorry, I cannot answer in JSON", json.dumps(bad), json.dumps(VALID)]
    coder = LLMCoder(server.url, "m", VCD, retries=2)
    [coding] = coder.predict([TEXT])
    assert coding.codes("phase") == ("after",)
    assert len(server.requests) == 3
    retry = server.requests[2]["body"]["messages"][-1]["content"]
    assert "unknown ids ['R4.9']" in retry and "'phase' needs exactly one id, got 2" in retry

    server.answers = [json.dumps(dict(VALID, reasons=[]))] * 3
    failing = LLMCoder(server.url, "m", VCD, retries=2)
    assert failing.predict([TEXT], ids=["x"]) == []
    assert failing.failures[0].incident_id == "x"
    assert "'reasons' must not be empty" in failing.failures[0].problems[0]


def test_http_errors_and_unreachable_endpoints_are_clear(server: FakeServer) -> None:
    server.answers = [500]
    with pytest.raises(CovalueError, match="answered HTTP 500"):
        LLMCoder(server.url, "m", VCD).predict([TEXT])
    with pytest.raises(CovalueError, match="cannot reach LLM endpoint"):
        LLMCoder("http://127.0.0.1:9/v1", "m", VCD, timeout=2).predict([TEXT])


def test_parse_answer_rules() -> None:
    decisions, problems = parse_answer(VCD, "```json\n" + json.dumps(VALID) + "\n```", TEXT)
    assert not problems and decisions["wellbeing_decline"][0].code == "customer"
    positive = dict(VALID, valence="co_creation")
    _, problems = parse_answer(VCD, json.dumps(positive), TEXT)
    assert problems == ["'reasons' must be empty when valence is ['co_creation']"]
    _, problems = parse_answer(VCD, json.dumps({k: v for k, v in VALID.items() if k != "coping"}), TEXT)
    assert problems == ["'coping' is missing or not a string/list"]
