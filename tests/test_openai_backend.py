"""The ``openai`` backend against real servers on loopback: ``transformers serve`` with a tiny
model (its output must equal in-process transformers generation), and scripted HTTP servers
for the failure modes (refused, slow, 5xx, non-JSON, no choices)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.endpoint import Completion
from models import KINDS
from models.backends.openai import OpenAIBackend

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
from servers import ScriptedServer, chat_reply, refused_url, shared_serve

QUESTIONS = ["Tom has 3 apples and buys 4 more. How many apples does he have?", "What is 12 * 3?",
             "A train travels 60 km in 2 hours. What is its speed?", "Solve x + 5 = 12.",
             "What is 15% of 240?"]


def prompts(n: int = len(QUESTIONS)) -> list[list[dict]]:
    from core.thesis_format import messages

    return [messages(q) for q in QUESTIONS[:n]]


@pytest.fixture(scope="session")
def served(smoke_base, tmp_path_factory):
    return shared_serve(smoke_base, tmp_path_factory.mktemp("served"))


@pytest.fixture()
def scripted():
    srv = ScriptedServer(lambda body, n: (200, chat_reply("ok", 1), 0))
    yield srv
    srv.stop()


def test_openai_kind_opens_the_openai_backend(tmp_path):
    from core.config import ModelEntry
    from core.context import Context
    from harness.registry import load_registry

    reg = load_registry(ROOT / "registry.yaml")
    reg.models["api"] = ModelEntry(kind="openai", base_url="http://127.0.0.1:9/v1", model="m")
    handle = KINDS.get("openai").open(Context(reg, "smoke", tmp_path), "api", "fp")
    assert isinstance(handle.backend, OpenAIBackend) and handle.description["model"] == "m"


def test_served_generation_equals_in_process_generation(served):
    """Same weights, tokenizer and chat template: greedy text and token counts must match exactly."""
    from models.backends.hf import HFBackend
    from core.config import BaseSpec

    backend = OpenAIBackend(served.base_url, served.model, concurrency=3, retries=0)
    seen: list[int] = []
    got = backend.generate(prompts(), 20, batch_size=2, on_batch=lambda idx, res: seen.extend(idx))
    assert backend.description == {"backend": "openai", "base_url": served.base_url, "model": served.model}
    assert sorted(seen) == list(range(len(QUESTIONS)))  # every prompt handed to on_batch exactly once
    assert all(isinstance(r, Completion) and r.error is None for r in got), [r.error for r in got]

    reference = HFBackend(BaseSpec(kind="tiny"), Path(served.model)).generate(prompts(), 20, batch_size=1)
    assert [tuple(r) for r in got] == [tuple(r) for r in reference]
    assert len({text for text, _ in got}) > 1, "the served model must not answer every prompt alike"
    for text, n in got:  # n_tokens comes from the server's usage, not a word count
        assert 0 < n <= 20


def test_n_samples_per_prompt(served):
    backend = OpenAIBackend(served.base_url, served.model, retries=0)
    got = backend.generate(prompts(2), 6, batch_size=8, sampling={"temperature": 1.0, "seed": 7}, n=3)
    assert len(got) == 2 and all(len(samples) == 3 for samples in got)
    assert all(s.error is None and s[1] > 0 for samples in got for s in samples)


def test_client_error_is_recorded_at_once_without_retries(served):
    """transformers serve rejects unknown request keys with HTTP 422: a client error, not retried."""
    backend = OpenAIBackend(served.base_url, served.model, retries=3, backoff_s=2.0)
    t0 = time.monotonic()
    (result,) = backend.generate(prompts(1), 6, batch_size=1, sampling={"repetition_penalty": 1.1})
    assert tuple(result) == ("", 0) and "HTTP 422" in result.error and "repetition_penalty" in result.error
    assert backend.client.stats["attempts"] == 1 and time.monotonic() - t0 < 2.0


def test_server_down_fails_fast_and_recorded():
    backend = OpenAIBackend(refused_url(), "m", retries=2, backoff_s=0.05, concurrency=4)
    t0 = time.monotonic()
    got = backend.generate(prompts(), 8, batch_size=2)
    assert time.monotonic() - t0 < 3.0
    assert [tuple(r) for r in got] == [("", 0)] * len(QUESTIONS)
    assert all("connection refused" in r.error for r in got), [r.error for r in got]
    assert any("after 3 attempts" in r.error for r in got)


def test_dead_endpoint_trips_the_breaker():
    """After 5 requests in a row failed for good, the rest fail at once (no retries each)."""
    backend = OpenAIBackend(refused_url(), "m", retries=1, backoff_s=0.05, concurrency=1)
    got = backend.generate(prompts() * 4, 8, batch_size=4)
    assert all(r.error for r in got)
    assert backend.client.stats["failures"] == 5 and backend.client.stats["skipped"] == 15
    assert backend.client.stats["attempts"] == 10 and got[-1].error.startswith("skipped: endpoint is failing")


def test_timeout_is_retried_then_recorded(scripted):
    scripted.reset(lambda body, n: (200, chat_reply("late", 1), 1.5))
    backend = OpenAIBackend(scripted.base_url, "m", timeout_s=0.3, retries=1, backoff_s=0.05)
    t0 = time.monotonic()
    (result,) = backend.generate(prompts(1), 8, batch_size=1)
    assert tuple(result) == ("", 0) and "timed out after 0.3s after 2 attempts" in result.error
    assert len(scripted.requests) == 2  # the first try and one retry reached the server
    assert backend.client.stats["retries"] == 1 and time.monotonic() - t0 < 1.5


@pytest.mark.parametrize("payload, message", [
    (b"<html>502 Bad Gateway</html>", "response is not JSON"),
    (json.dumps({"object": "chat.completion", "choices": []}).encode(), "response has no choices"),
    (json.dumps({"choices": [{"message": {"role": "assistant", "content": None}}]}).encode(), "no message content"),
    (json.dumps([1, 2]).encode(), "not a JSON object"),
])
def test_garbage_is_retried_then_recorded(scripted, payload, message):
    scripted.reset(lambda body, n: (200, payload, 0))
    backend = OpenAIBackend(scripted.base_url, "m", retries=2, backoff_s=0.01)
    (result,) = backend.generate(prompts(1), 8, batch_size=1)
    assert tuple(result) == ("", 0) and message in result.error and "after 3 attempts" in result.error
    assert len(scripted.requests) == 3


def test_transient_5xx_recovers_and_request_is_well_formed(scripted, monkeypatch):
    monkeypatch.setenv("GRPO_BENCH_TEST_KEY", "sk-test")
    scripted.reset(lambda body, n: (503, b'{"error": "loading"}', 0) if n == 1 else
                   (200, chat_reply("four words in here"), 0))  # no usage: word count fallback
    backend = OpenAIBackend(scripted.base_url, "my-model", api_key_env="GRPO_BENCH_TEST_KEY", retries=2,
                            backoff_s=0.01)
    (result,) = backend.generate(prompts(1), 8, batch_size=1)
    assert tuple(result) == ("four words in here", 4) and result.error is None
    body = scripted.requests[-1]
    assert body["model"] == "my-model" and body["max_tokens"] == 8 and body["temperature"] == 0.0
    assert body["messages"] == prompts(1)[0] and body["stream"] is False
    assert scripted.headers[-1].get("Authorization") == "Bearer sk-test"


def test_bad_base_url_is_one_line_error():
    from core.errors import BadInput

    with pytest.raises(BadInput, match="must start with http"):
        OpenAIBackend("localhost:8000/v1", "m")


def test_loopback_bypasses_the_environment_proxy(scripted, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy that does not exist
    (result,) = OpenAIBackend(scripted.base_url, "m", retries=0).generate(prompts(1), 8, batch_size=1)
    assert tuple(result) == ("ok", 1) and result.error is None
