"""The LLM judge: score parsing, the prompt it sends, failures recorded (never 0), the
fingerprint, and real endpoints on loopback (``transformers serve`` and scripted servers)."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from benchmarks.suite import Item
from judges import get_judge
from judges.llm import JUDGE_ERROR, LLMJudge, parse_score
from core.config import JudgeEntry
from servers import ScriptedServer, chat_reply, refused_url, shared_serve

ITEM = Item(id="q1", dataset="gsm8k", prompt=[{"role": "user", "content": "Tom has 3 apples and buys 4. How many?"}],
            answer="7", question="Tom has 3 apples and buys 4. How many?")
RESPONSE = "3 + 4 = 7<end_working_out><SOLUTION>7</SOLUTION>"


def entry(base_url=None, **kw) -> JudgeEntry:
    return JudgeEntry(**{"kind": "llm", "base_url": base_url, "model": "judge-model", "timeout_s": 5, "retries": 1,
                         "concurrency": 4, **kw})


def judge(base_url, backoff_s=0.01, **kw) -> LLMJudge:
    return LLMJudge("llm", entry(base_url, **kw), backoff_s=backoff_s)


@pytest.fixture()
def scripted():
    srv = ScriptedServer(lambda body, n: (200, chat_reply("Fine.\nSCORE: 7"), 0))
    yield srv
    srv.stop()


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("verdict, score", [
    ("The steps are right.\nSCORE: 7", 7.0),
    ("Score: 7/10", 7.0),
    ("7.5", 7.5),
    ("**Score:** 8", 8.0),
    ("Rating: 9 out of 10", 9.0),
    ("SCORE: 85/100", 8.5),
    ("I'd give it 6/10 overall.", 6.0),
    ("SCORE: 12", 10.0),          # clamped
    ("SCORE: -2", 0.0),           # clamped
    ("SCORE: 4\n1. minor slip in step 2", 4.0),  # a numbered note after the score is not the score
    ("Score: 3\nOn reflection, final score: 6", 6.0),  # the last score line wins
    ("score = 9.25", 9.25),
])
def test_parse_score(verdict, score):
    assert parse_score(verdict) == score


@pytest.mark.parametrize("verdict", ["", "The answer 42 is correct but poorly argued.", "1. good\n2. bad",
                                     "SCORE: seven", "no idea"])
def test_unparsable_verdict_is_none_not_zero(verdict):
    assert parse_score(verdict) is None


# -- against scripted endpoints ------------------------------------------------------------------
def test_rates_and_sends_a_well_formed_prompt(scripted):
    j = judge(scripted.base_url)
    assert j.rate_many("arithmetic", [(ITEM, RESPONSE, True)]) == [(7.0, "Fine.\nSCORE: 7")]
    body = scripted.requests[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    for part in (ITEM.question, "REFERENCE ANSWER:\n7", RESPONSE, "SCORE: <number from 0 to 10>", "calculation"):
        assert part in user["content"]


def test_results_stay_aligned_and_concurrency_is_bounded(scripted):
    # the verdict echoes a number taken from the response, so a mixed-up order would show
    def behaviour(body, n):
        reply = body["messages"][1]["content"].split("RESPONSE:\n")[1].split()[0]
        return 200, chat_reply(f"ok\nSCORE: {reply}"), 0.05
    scripted.reset(behaviour)
    j = judge(scripted.base_url, concurrency=3)
    requests = [(ITEM, f"{i % 11} is my answer", False) for i in range(12)]
    got = j.rate_many("qa", requests)
    assert [s for s, _ in got] == [float(i % 11) for i in range(12)]
    assert 1 < scripted.max_in_flight <= 3


def test_verdict_without_a_number_is_none_with_its_text(scripted):
    scripted.reset(lambda body, n: (200, chat_reply("The reasoning is muddled."), 0))
    assert judge(scripted.base_url).rate_many("qa", [(ITEM, RESPONSE, True)]) == [(None, "The reasoning is muddled.")]


@pytest.mark.parametrize("status, payload, message", [
    (200, b"this is not json", "response is not JSON"),
    (200, json.dumps({"id": "x", "choices": []}).encode(), "response has no choices"),
    (500, b'{"error": "boom"}', "HTTP 500"),
])
def test_garbage_and_5xx_are_judge_errors_after_retries(scripted, status, payload, message):
    scripted.reset(lambda body, n: (status, payload, 0))
    ((score, verdict),) = judge(scripted.base_url, retries=2).rate_many("qa", [(ITEM, RESPONSE, True)])
    assert score is None and verdict.startswith(JUDGE_ERROR) and message in verdict and "after 3 attempts" in verdict
    assert len(scripted.requests) == 3


def test_slow_judge_times_out_with_retries_counted(scripted):
    scripted.reset(lambda body, n: (200, chat_reply("SCORE: 9"), 1.5))
    j = judge(scripted.base_url, timeout_s=0.3, retries=1)
    t0 = time.monotonic()
    ((score, verdict),) = j.rate_many("qa", [(ITEM, RESPONSE, True)])
    assert score is None and "timed out after 0.3s after 2 attempts" in verdict
    assert j.client.stats["attempts"] == 2 and len(scripted.requests) == 2 and time.monotonic() - t0 < 1.5


def test_judge_down_records_every_item_quickly():
    j = judge(refused_url(), retries=3)
    t0 = time.monotonic()
    got = j.rate_many("qa", [(ITEM, f"answer {i}", False) for i in range(20)])
    assert time.monotonic() - t0 < 3.0
    assert len(got) == 20 and all(s is None and v.startswith(JUDGE_ERROR) for s, v in got)
    assert "connection refused" in got[0][1]
    assert j.client.stats["skipped"] > 0  # the breaker spared the remaining items their retries


def test_client_error_is_not_retried(scripted, monkeypatch):
    monkeypatch.delenv("GRPO_BENCH_NO_KEY", raising=False)
    scripted.reset(lambda body, n: (401, b'{"error": "invalid api key"}', 0))
    ((score, verdict),) = judge(scripted.base_url, api_key_env="GRPO_BENCH_NO_KEY").rate_many(
        "qa", [(ITEM, RESPONSE, True)])
    assert score is None and "HTTP 401" in verdict and "$GRPO_BENCH_NO_KEY" in verdict
    assert len(scripted.requests) == 1 and "Authorization" not in scripted.headers[0]


# -- identity ------------------------------------------------------------------------------------
def test_fingerprint_follows_model_and_prompt_not_url(monkeypatch):
    import judges.llm as llm

    a = judge("http://127.0.0.1:1/v1").fingerprint
    assert judge("http://judge.example:8000/v1").fingerprint == a
    assert LLMJudge("llm", entry("http://127.0.0.1:1/v1", model="other")).fingerprint != a
    monkeypatch.setattr(llm, "PROMPT_VERSION", llm.PROMPT_VERSION + "-changed")
    assert judge("http://127.0.0.1:1/v1").fingerprint != a


def test_get_judge_and_registry_entry(registry_path):
    from harness.registry import load_registry

    reg = load_registry(registry_path)
    j = get_judge("llm", reg.judges["llm"])
    assert isinstance(j, LLMJudge) and j.name == "llm" and j.concurrency == reg.judges["llm"].concurrency


def test_misconfigured_judge_is_one_line_error(tmp_path):
    from core.errors import BadInput

    with pytest.raises(BadInput, match="not a local model folder"):
        LLMJudge("llm", entry(None, model=str(tmp_path / "absent")))
    with pytest.raises(BadInput, match="must start with http"):
        LLMJudge("llm", entry("judge.local:8000"))


# -- real models ---------------------------------------------------------------------------------
def test_real_server_verdict_without_score_is_none(smoke_base, tmp_path_factory):
    """The tiny model behind ``transformers serve`` writes no score: recorded as None with its
    text, never 0 and never an error."""
    served = shared_serve(smoke_base, tmp_path_factory.mktemp("served"))
    j = LLMJudge("llm", entry(served.base_url, model=served.model, timeout_s=60), max_tokens=48)
    got = j.rate_many("arithmetic", [(ITEM, RESPONSE, True), (ITEM, "no idea", False)])
    assert len(got) == 2
    for score, verdict in got:
        assert not verdict.startswith(JUDGE_ERROR), verdict
        assert score == parse_score(verdict)  # whatever it wrote, parsed the same way (almost surely None)
        assert verdict  # the raw text is kept for the record


def test_local_model_judge(smoke_base, tmp_path):
    j = LLMJudge("local", entry(None, model=str(smoke_base)), max_tokens=16)
    got = j.rate_many("qa", [(ITEM, RESPONSE, True), (ITEM, "", False)])
    assert len(got) == 2 and all(score == parse_score(verdict) for score, verdict in got)
    # the fingerprint follows the files, not the path's name
    copy = shutil.copytree(smoke_base, tmp_path / "judge")
    assert LLMJudge("local", entry(None, model=str(copy)), max_tokens=16).fingerprint == j.fingerprint
    (copy / "generation_config.json").write_text((copy / "generation_config.json").read_text() + "\n")
    assert LLMJudge("local", entry(None, model=str(copy)), max_tokens=16).fingerprint != j.fingerprint


# -- through the runner's verdict cache ----------------------------------------------------------
def _ctx(registry_path, tmp_path, base_url):
    from harness.registry import load_registry
    from core.context import Context

    reg = load_registry(registry_path)
    reg.judges["llm"] = entry(base_url, retries=0)
    reg.profiles["smoke"].judge = "llm"
    return Context(reg, "smoke", tmp_path)


def test_runner_stores_and_reuses_verdicts(registry_path, tmp_path, scripted):
    from benchmarks import get_suite
    from harness.runner import judge_rows

    ctx, suite = _ctx(registry_path, tmp_path, scripted.base_url), get_suite("indomain")
    scripted.reset(lambda body, n: (200, chat_reply("SCORE: 8" if n == 1 else "no score here"), 0))
    reqs = [(ITEM, RESPONSE, True), (ITEM, "other response", False)]
    rows = judge_rows(ctx, suite, reqs, "fp", "thesis", "g")
    assert sorted((r[6], r[7]) for r in rows if r[7] or r[6] == "judge") == [("judge", 8.0), ("judge_missing", 1.0)]
    assert judge_rows(ctx, suite, reqs, "fp", "thesis", "g") == rows  # cached: no new request
    assert len(scripted.requests) == 2


def test_runner_does_not_cache_judge_errors(registry_path, tmp_path, scripted):
    from benchmarks import get_suite
    from harness.runner import judge_rows

    suite = get_suite("indomain")
    rows = judge_rows(_ctx(registry_path, tmp_path, refused_url()), suite, [(ITEM, RESPONSE, True)],
                      "fp", "thesis", "g")
    assert sorted((r[6], r[7]) for r in rows) == [("judge_error", 1.0), ("judge_missing", 0.0)]  # not a score
    rows = judge_rows(_ctx(registry_path, tmp_path, scripted.base_url), suite, [(ITEM, RESPONSE, True)],
                      "fp", "thesis", "g")
    assert sorted((r[6], r[7]) for r in rows) == [("judge", 7.0), ("judge_error", 0.0), ("judge_missing", 0.0)]
