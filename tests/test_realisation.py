"""The Executor with LLM deciders through the scripted loopback server: exact quotas under a verifier
that rejects a share, the shortfall report when the pool is too small, a repair routed back to the step
that failed, and samples realised concurrently."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, by_schema, schema_name
from support import ACCEPT_ITEM, COUNTING_CARD, KEEP_STEP, items, mcq_rows, rejections, run, write_dataset

from graph.builder import build_graph
from graph.checkpoints import sqlite_saver
from state.context import Context

KEEP = Reply(KEEP_STEP)
ACCEPT = ACCEPT_ITEM


def _question(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    return prompt.split("Question: ", 1)[1].split("\n", 1)[0]


def _rejects_a_share(share: int):
    """A verifier that discards every item whose question hashes into the first `share` of 100."""
    def judge(body: dict) -> Reply:
        digest = int(hashlib.sha256(_question(body).encode()).hexdigest(), 16) % 100
        if digest < share:
            return Reply({**ACCEPT, "answer_correct": False, "action": "discard",
                          "reason": f"scripted: the labelled answer is wrong (bucket {digest})"})
        return Reply(ACCEPT)
    return judge


@pytest.fixture
def stub():
    with OpenAIStub() as s:
        yield s


def _roles(stub: OpenAIStub) -> dict[str, str]:
    model = f"stub-model={stub.url}"
    return {"orchestrator": model, "verifier": model}


def test_exact_quota_through_a_verifier_that_rejects_a_share(tmp_path: Path, stub: OpenAIStub) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    write_dataset(pool, "counting-mcq", mcq_rows(120), card=COUNTING_CARD)
    stub.serve(by_schema({"StepAction": KEEP, "SemanticJudgement": _rejects_a_share(30)}))
    state = run("answer short questions about counting numbers", pool, out, size=50, llm_roles=_roles(stub),
                concurrency=8)
    built, rejected = items(out), rejections(out)
    assert state["status"] == "done" and len(built) == 50 and len({i["id"] for i in built}) == 50
    assert 5 <= len(rejected) <= 40  # about 30% of the draws
    assert all(r["reason"].startswith("semantic check: scripted: the labelled answer is wrong") for r in rejected)
    assert all("semantic_answer_correct" in r["failed"] for r in rejected)
    quota = state["summary"]["quotas"]["text-mcq@counting-mcq"]
    assert quota["accepted"] == 50 and quota["replaced"] == len(rejected) and quota["drawn"] == 50 + len(rejected)
    assert quota["yield"] == round(50 / (50 + len(rejected)), 3) and "shortfall" not in quota
    judged = [r for r in stub.requests if schema_name(r.body) == "SemanticJudgement"]
    assert len(judged) == 50 + len(rejected)  # every draw was judged once, the replacements too
    assert all(i["metadata"]["semantic_check"]["action"] == "accept" for i in built)


def test_a_pool_too_small_ends_with_the_quota_its_shortfall_and_the_cause(tmp_path: Path, stub: OpenAIStub) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    write_dataset(pool, "counting-mcq", mcq_rows(30), card=COUNTING_CARD)
    stub.serve(by_schema({"StepAction": KEEP, "SemanticJudgement": _rejects_a_share(50)}))
    state = run("answer short questions about counting numbers", pool, out, size=20, llm_roles=_roles(stub))
    quota = state["summary"]["quotas"]["text-mcq@counting-mcq"]
    assert state["status"] == "short" and quota["drawn"] == 30 and quota["accepted"] == len(items(out)) < 20
    assert quota["shortfall"] == 20 - quota["accepted"] and quota["cause"] == "the data ran out after 30 draws"
    assert f"text-mcq@counting-mcq is {quota['shortfall']} short: the data ran out after 30 draws" in state["message"]


def test_a_spent_budget_ends_the_build_short_with_the_quota_and_the_cause(tmp_path: Path, stub: OpenAIStub,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    write_dataset(pool, "counting-mcq", mcq_rows(40), card=COUNTING_CARD)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"stub-model": [1_000_000, 1_000_000]}))  # $15 a call of 10+5 tokens
    monkeypatch.setenv("BENCHAGENT_PRICES", str(prices))
    stub.serve(by_schema({"StepAction": KEEP, "SemanticJudgement": Reply(ACCEPT)}))
    state = run("answer short questions about counting numbers", pool, out, size=20, llm_roles=_roles(stub),
                max_cost=100.0, concurrency=2)
    quota = state["summary"]["quotas"]["text-mcq@counting-mcq"]
    assert state["status"] == "short" and "stopped at the budget" in state["message"]
    # two calls an item at $15: the budget pays for the first rounds, then no item is half-made or counted
    assert 1 <= quota["accepted"] == len(items(out)) < 20 and quota["shortfall"] == 20 - quota["accepted"]
    assert "budget" in quota["cause"] and not list((out / "drafts").glob("*"))


CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid", "Peru": "Lima",
            "Kenya": "Nairobi", "Egypt": "Cairo", "Chile": "Santiago"}
CAPITALS_CARD = {"name": "capitals-open", "task": "open question answering",
                 "description": "Open questions about the capital cities of countries, answered with a city name."}


def _distractors(body: dict) -> Reply:
    """Wrong capitals; after a reviewer's note, other wrong capitals."""
    prompt = body["messages"][-1]["content"]
    wrong = [c for c in CAPITALS.values() if c not in prompt.split("Answer", 1)[1][:40]]
    return Reply({"distractors": wrong[1:4] if "reviewer rejected" in prompt else wrong[:3]})


def test_a_repair_goes_back_to_the_failing_step_and_passes_the_second_time(tmp_path: Path, stub: OpenAIStub) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    rows = [{"id": f"c{i}", "question": f"What is the capital of {country}?", "answer": city}
            for i, (country, city) in enumerate(CAPITALS.items())]
    write_dataset(pool, "capitals-open", rows, card=CAPITALS_CARD)
    judged: dict[str, int] = {}
    lock = threading.Lock()

    def judge(body: dict) -> Reply:
        question = _question(body)
        with lock:
            judged[question] = judged.get(question, 0) + 1
            first = judged[question] == 1
        if first and "Japan" in question:
            return Reply({**ACCEPT, "unambiguous": False, "action": "repair", "failed_step": "written_distractors",
                          "reason": "scripted: Kyoto-like options make two answers defensible"})
        return Reply(ACCEPT)

    stub.serve(by_schema({"StepAction": KEEP, "Distractors": _distractors, "SemanticJudgement": judge}))
    state = run("answer open questions about capital cities as multiple choice with written distractors", pool, out,
                size=5, llm_roles=_roles(stub))
    assert [s.recipe for s in state["subtasks"]] == ["open-qa-written-mcq"]
    assert state["status"] == "done" and len(items(out)) == 5
    assert "c1" not in {r["sample_id"] for r in rejections(out)}  # Japan's sample
    asked = [r.body for r in stub.requests if "Japan" in r.body["messages"][-1]["content"]]
    kinds = [schema_name(b) for b in asked]
    # The first pass asks the orchestrator before the question step and the distractor step, then the
    # distractors and the judgement. The repair goes back to the distractor step only (the question step's
    # identical call is a cache hit): the orchestrator and the tool both see the verifier's reason.
    assert kinds == ["StepAction", "StepAction", "Distractors", "SemanticJudgement",
                     "StepAction", "Distractors", "SemanticJudgement"], kinds
    prompts = [b["messages"][-1]["content"] for b in asked]
    assert "Next step: written_distractors" in prompts[4] and "Kyoto-like options" in prompts[4]
    assert "reviewer rejected the previous attempt: scripted: Kyoto-like options" in prompts[5]
    assert not any("Kyoto" in p for p in prompts[:4])
    item = next(i for i in items(out) if "Japan" in i["question"])
    assert item["answer_text"] == "Tokyo" and len(set(item["choices"])) == 4


def test_samples_of_a_round_are_realised_at_once(tmp_path: Path) -> None:
    pool, out = tmp_path / "pool", tmp_path / "out"
    write_dataset(pool, "counting-mcq", mcq_rows(24), card=COUNTING_CARD)
    with OpenAIStub(by_schema({"StepAction": KEEP, "SemanticJudgement": Reply(ACCEPT)}), latency=0.2) as stub:
        state = run("answer short questions about counting numbers", pool, out, size=16, llm_roles=_roles(stub),
                    concurrency=8, llm_concurrency=8)
        assert stub.max_in_flight == 8  # eight samples' calls at once, never more
    assert state["status"] == "done" and len(items(out)) == 16
    trace = [json.loads(line)["node"] for line in (out / "trace.jsonl").read_text().splitlines()]
    # two rounds of eight executor tasks each, and the orchestrator's last pass that finds nothing left
    assert trace.count("executor") == 16 and trace.count("verifier") == 2 and trace.count("orchestrator") == 3


@pytest.mark.slow
def test_the_embedded_model_writes_and_judges_items_end_to_end(tmp_path: Path) -> None:
    """The real path with a real (weak) model: the offline planner picks a recipe that writes with an LLM,
    and SmolLM2-135M decides the steps, writes the distractors and judges each draft."""
    pool, out = tmp_path / "pool", tmp_path / "out"
    rows = [{"id": f"c{i}", "question": f"What is the capital of {country}?", "answer": city}
            for i, (country, city) in enumerate(CAPITALS.items())]
    write_dataset(pool, "capitals-open", rows, card=CAPITALS_CARD)
    state = run("answer open questions about capital cities as multiple choice with written distractors", pool, out,
                size=1, attempts_per_item=1, llm_roles={"orchestrator": "local:smollm2", "verifier": "local:smollm2"})
    assert state["status"] in ("done", "short"), state.get("message")  # a benchmark, or a clear shortfall report
    summary = state["summary"]
    decisions = summary["llm"]["by_decision"]
    assert summary["llm"]["models"]["orchestrator"] == "local:smollm2"
    assert decisions["orchestrator.step"]["calls"] >= 1 and decisions["write_distractors"]["calls"] >= 1
    quota = summary["quotas"]["open-qa-written-mcq@capitals-open"]
    assert quota["accepted"] + quota["replaced"] == quota["drawn"] and all(r["reason"] for r in rejections(out))
    for item in items(out):  # what the model wrote carries its provenance
        written = [p for p in item["metadata"]["provenance"] if p["tool"] == "write_distractors"]
        assert written and written[0]["llm"]["model"] == "local:smollm2" and written[0]["llm"]["prompt_hash"]
        assert "semantic_check" in item["metadata"]


def _last_checkpoint_bytes(pool: Path, out: Path, size: int) -> int:
    with closing(sqlite3.connect(out.parent / f"{out.name}.sqlite", check_same_thread=False)) as conn:
        graph = build_graph(checkpointer=sqlite_saver(conn), confine_paths=False)
        graph.invoke({"requirement": "answer short questions about counting numbers"},
                     {"configurable": {"thread_id": "t"}}, context=Context(pool=str(pool), out_dir=str(out), size=size))
        # the verifier's last checkpoint: the state after the final round, before assembly writes its summary
        query = "SELECT length(checkpoint) FROM checkpoints ORDER BY rowid DESC LIMIT 1 OFFSET 2"
        return conn.execute(query).fetchone()[0]


def test_the_state_a_checkpoint_holds_does_not_grow_with_the_build(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    rows = [{**row, "answer": row["options"][i % 4]} for i, row in enumerate(mcq_rows(90))]
    write_dataset(pool, "counting-mcq", rows, card=COUNTING_CARD)  # answers all distinct: a tally of them would grow
    small, large = (_last_checkpoint_bytes(pool, tmp_path / f"out{n}", n) for n in (8, 64))
    assert large <= small * 1.05, (small, large)
