"""The LLM Planner through the real HTTP path (langchain-openai -> a scripted loopback server): the
design-grounding rejection loop, the round limit, two subtasks on one recipe, faults, repair, the
usage ledger in the summary, the budget, and the key kept out of everything written."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, by_schema, fault, schema_name
from support import ACCEPT_ITEM, KEEP_STEP, ROOT, cli, items, mcq_rows, run, write_dataset

from graph.builder import build_graph
from graph.checkpoints import sqlite_saver

EXECUTOR = {"StepAction": Reply(KEEP_STEP), "SemanticJudgement": Reply(ACCEPT_ITEM)}


def _trivia_rows(n: int) -> list[dict]:
    capitals = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid")]
    return [{"id": f"t{i}", "question": f"What is the capital of {capitals[i % 4][0]} (case {i})?",
             "options": [c for _, c in capitals], "answer": chr(65 + i % 4)} for i in range(n)]


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "pool", "counting-mcq", mcq_rows(12),
                  card={"description": "Which number comes next when counting."})
    write_dataset(tmp_path / "pool", "capitals-mcq", _trivia_rows(12),
                  card={"description": "Capital cities of countries, four options."})
    return tmp_path / "pool"


def _subtask(name: str, recipe: str = "text-mcq", keywords: tuple[str, ...] = ("counting", "number")) -> dict:
    return {"name": name, "description": f"Items that test {name.lower()}.", "clause": name.lower(),
            "recipe": recipe, "keywords": list(keywords)}


def _design(*subtasks: dict, not_covered: tuple[dict, ...] = ()) -> Reply:
    return Reply({"subtasks": list(subtasks), "not_covered": list(not_covered)})


PREFERENCE = Reply({"modality": "text", "annotation": "a question with options and its answer",
                    "domain": "general", "query": "counting numbers"})


def _judgement(recipe: str, score: int, why: str = "fits") -> dict:
    part = {"score": score, "reason": why}
    return {"recipe": recipe, "alignment": part, "robustness": {"score": 5, "reason": "clean rows"},
            "preservation": {"score": 5, "reason": "options kept"}}


def _judge(data_of: dict[str, str]):
    """CardJudgement answers: 5 when the prompt pairs a subtask with its own dataset, else 1."""
    def answer(body: dict) -> Reply:
        prompt = body["messages"][-1]["content"]
        mine = any(f"Subtask: {sub}:" in prompt and f"\n{card}:" in prompt for sub, card in data_of.items())
        return Reply({"plans": [_judgement("text-mcq", 5 if mine else 1, "its own data" if mine else "other data")]})
    return answer


OWN_DATA = _judge({"Counting": "counting-mcq", "Capital cities": "capitals-mcq"})


def _llm(stub: OpenAIStub) -> str:
    return f"scripted-model={stub.url}"


def _requests_for(stub: OpenAIStub, schema: str) -> list[dict]:
    return [r.body for r in stub.requests if schema_name(r.body) == schema]


def test_a_rejected_grounding_sends_its_reasons_to_a_second_design_round(pool: Path, tmp_path: Path,
                                                                          openai_stub: OpenAIStub) -> None:
    counting = _subtask("Counting")

    def judge(body: dict) -> Reply:  # the first design's subtask fails its judgement, the revised one passes
        score = 5 if "Subtask: Counting numbers" in body["messages"][-1]["content"] else 1
        return Reply({"plans": [_judgement("text-mcq", score, "the rows are not about counting")]})

    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": [_design(counting), _design(counting),
                                                    _design(_subtask("Counting numbers"))],
                                 "DataPreference": PREFERENCE, "CardJudgement": judge}))
    state = run("count numbers", pool, tmp_path / "out", size=4, llm=_llm(openai_stub))
    assert state["design_rounds"] == 2 and state["status"] == "done"
    assert [s.id for s in state["subtasks"]] == ["counting-numbers"]
    revise = _requests_for(openai_stub, "DesignProposal")[2]["messages"][-1]["content"]
    assert "alignment 1/5 (the rows are not about counting)" in revise
    assert len(items(tmp_path / "out")) == 4


def test_no_grounding_after_the_round_limit_ends_with_the_reasons(pool: Path, tmp_path: Path,
                                                                 openai_stub: OpenAIStub) -> None:
    designs = [_design(_subtask("Counting")), _design(_subtask("Counting")), _design(_subtask("Counting again"))]
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": designs, "DataPreference": PREFERENCE,
                                 "CardJudgement": Reply({"plans": [_judgement("text-mcq", 1, "off topic")]})}))
    state = run("count numbers", pool, tmp_path / "out", size=4, llm=_llm(openai_stub), max_design_rounds=2)
    assert state["status"] == "refused" and state["design_rounds"] == 2
    # No revision left and nothing grounded: refused, each clause the designs named reported with the judge's reason.
    assert state["message"].startswith("nothing in the requirement can be built from pool pool")
    assert "2 clause(s) not served" in state["message"]
    coverage = state["summary"]["coverage"]
    assert [(c["clause"], c["served"]) for c in coverage] == [("counting", False), ("counting again", False)]
    assert all("alignment 1/5 (off topic)" in c["why"] for c in coverage)
    assert state["not_covered"] == {c["clause"]: c["why"] for c in coverage}
    assert items(tmp_path / "out") == []


def test_two_subtasks_share_one_recipe_on_different_data(pool: Path, tmp_path: Path, openai_stub: OpenAIStub) -> None:
    counting = _subtask("Counting", keywords=("counting", "number", "next"))
    capitals = _subtask("Capital cities", keywords=("capital", "cities", "countries"))
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": _design(counting, capitals), "DataPreference": PREFERENCE,
                                 "CardJudgement": OWN_DATA}))
    state = run("count numbers and know capital cities", pool, tmp_path / "out", size=8, llm=_llm(openai_stub))
    assert state["status"] == "done"
    assert {s.recipe for s in state["subtasks"]} == {"text-mcq"} and len(state["subtasks"]) == 2
    built = items(tmp_path / "out")
    assert {i["subtask"] for i in built} == {"counting", "capital-cities"} and len(built) == 8


def test_an_infeasible_allocation_of_llm_subtasks_is_diagnosed_and_adjusted(tmp_path: Path,
                                                                           openai_stub: OpenAIStub) -> None:
    write_dataset(tmp_path / "pool", "counting-mcq", mcq_rows(4), card={"description": "Counting."})
    write_dataset(tmp_path / "pool", "capitals-mcq", _trivia_rows(12), card={"description": "Capital cities."})
    counting = _subtask("Counting", keywords=("counting", "number", "next"))
    capitals = _subtask("Capital cities", keywords=("capital", "cities", "countries"))
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": _design(counting, capitals), "DataPreference": PREFERENCE,
                                 "CardJudgement": OWN_DATA}))
    state = run("count numbers and know capital cities", tmp_path / "pool", tmp_path / "out", size=10,
                llm=_llm(openai_stub))
    assert any(e.startswith("diagnose: infeasible") for e in state["events"]) and state["adjust_rounds"] == 1
    alloc = state["allocation"]
    assert (alloc.for_subtask("counting"), alloc.for_subtask("capital-cities")) == (3, 7)
    assert state["status"] == "done" and len(items(tmp_path / "out")) == 10


@pytest.mark.parametrize("status", [400, 404])
def test_a_bad_request_is_sent_once_and_ends_the_build_plainly(pool: Path, tmp_path: Path, openai_stub: OpenAIStub,
                                                              status: int) -> None:
    openai_stub.serve([fault(status, error="model 'scripted-model' not found")])
    state = run("count numbers", pool, tmp_path / "out", size=2, llm=_llm(openai_stub))
    assert state["status"] == "refused" and f"({status})" in state["message"] and "not found" in state["message"]
    assert len(openai_stub.requests) == 1


def _flaky(script, faults: list[Reply]):
    """The first requests get the faults, then the script answers."""
    pending = list(faults)

    def answer(body: dict) -> Reply:
        return pending.pop(0) if pending else script(body)
    return answer


def test_transient_faults_never_fail_a_step_and_malformed_output_is_repaired(pool: Path, tmp_path: Path,
                                                                               openai_stub: OpenAIStub) -> None:
    design = [Reply("{not json at all"), _design(_subtask("Counting")), _design(_subtask("Counting"))]
    script = by_schema({**EXECUTOR, "DesignProposal": design, "DataPreference": PREFERENCE,
                        "CardJudgement": Reply({"plans": [_judgement("text-mcq", 5)]})})
    openai_stub.serve(_flaky(script, [fault(429, retry_after=0), fault(500), fault(503)]))
    state = run("count numbers", pool, tmp_path / "out", size=3, llm=_llm(openai_stub))
    assert state["status"] == "done" and len(items(tmp_path / "out")) == 3
    sent = [json.dumps(body["messages"]) for body in _requests_for(openai_stub, "DesignProposal")]
    assert sum("{not json at all" in messages for messages in sent) == 1  # the one repair showed its bad output
    assert not state["summary"]["llm"]["failures"]


def test_the_summary_counts_what_the_server_served_per_role_decision_and_model(pool: Path, tmp_path: Path,
                                                                                openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({**EXECUTOR,
        "DesignProposal": Reply({"subtasks": [_subtask("Counting")], "not_covered": [
            {"clause": "in French", "why": "no French data"}]}, usage=(100, 20)),
        "DataPreference": Reply(PREFERENCE.content, usage=(30, 7)),
        "CardJudgement": Reply({"plans": [_judgement("text-mcq", 5)]}, usage=(50, 11))}))
    state = run("count numbers in French", pool, tmp_path / "out", size=2, llm=_llm(openai_stub))
    usage = state["summary"]["llm"]
    served = {name: len(_requests_for(openai_stub, name)) for name in ("DesignProposal", "DataPreference",
                                                                        "CardJudgement", "StepAction",
                                                                        "SemanticJudgement")}
    assert usage["by_decision"]["grounding.preference"]["prompt_tokens"] == 30 * served["DataPreference"]
    assert usage["by_decision"]["grounding.score"]["completion_tokens"] == 11 * served["CardJudgement"]
    design_calls = sum(v["calls"] for k, v in usage["by_decision"].items() if k.startswith("design."))
    assert design_calls == served["DesignProposal"]
    total = 100 * served["DesignProposal"] + 30 * served["DataPreference"] + 50 * served["CardJudgement"]
    assert usage["by_role"]["planner"]["prompt_tokens"] == total
    # the executor's roles: one orchestrator decision per item (its one step with parameters), one judgement each
    assert usage["by_role"]["orchestrator"]["calls"] == served["StepAction"] == 2
    assert usage["by_role"]["verifier"]["calls"] == served["SemanticJudgement"] == 2
    assert usage["total"]["prompt_tokens"] == total + 10 * (served["StepAction"] + served["SemanticJudgement"])
    assert usage["by_model"]["scripted-model"]["calls"] == len(openai_stub.requests)
    assert state["summary"]["not_covered"] == {"in French": "no French data"}
    assert state["summary"]["coverage"] == [{"clause": "counting", "served": True, "subtasks": ["counting"]},
                                            {"clause": "in French", "served": False, "why": "no French data"}]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Coverage" in card and "- in French: **not served**: no French data" in card and "## Cost" in card


def test_max_cost_stops_the_build_cleanly_at_the_budget(pool: Path, tmp_path: Path, openai_stub: OpenAIStub,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted-model": [1_000_000, 1_000_000]}))  # $15 a call of 10+5 tokens
    monkeypatch.setenv("BENCHAGENT_PRICES", str(prices))
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": _design(_subtask("Counting")), "DataPreference": PREFERENCE,
                                 "CardJudgement": Reply({"plans": [_judgement("text-mcq", 5)]})}))
    state = run("count numbers", pool, tmp_path / "out", size=2, llm=_llm(openai_stub), max_cost=20.0)
    assert state["status"] == "short" and "stopped at the budget" in state["message"]
    assert len(openai_stub.requests) == 2  # the third call would start past the $20 budget
    assert state["summary"]["llm"]["total"]["cost_usd"] == pytest.approx(30.0)


def test_a_refused_key_is_sent_once_reported_plainly_and_never_written(pool: Path, tmp_path: Path,
                                                                       openai_stub: OpenAIStub) -> None:
    openai_stub.serve([fault(401, error="Incorrect API key provided")])
    out = tmp_path / "out"
    proc = cli("build", "count numbers", "--pool", str(pool), "--size", "2", "--out", str(out),
               "--llm", _llm(openai_stub), env={"OPENAI_API_KEY": "sk-sentinel-4f1c"})
    assert proc.returncode == 2 and "401" in proc.stderr and "OPENAI_API_KEY" in proc.stderr, proc.stderr
    assert len(openai_stub.requests) == 1
    assert openai_stub.requests[0].headers.get("authorization") == "Bearer sk-sentinel-4f1c"
    assert "sk-sentinel-4f1c" not in proc.stderr + proc.stdout
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert written and b"sk-sentinel-4f1c" not in written


def test_the_key_reaches_the_server_and_nothing_written(pool: Path, tmp_path: Path, openai_stub: OpenAIStub) -> None:
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": _design(_subtask("Counting")), "DataPreference": PREFERENCE,
                                 "CardJudgement": Reply({"plans": [_judgement("text-mcq", 5)]})}))
    out = tmp_path / "out"
    proc = cli("build", "count numbers", "--pool", str(pool), "--size", "2", "--out", str(out),
               "--llm", _llm(openai_stub), env={"OPENAI_API_KEY": "sk-sentinel-77aa"})
    assert proc.returncode == 0, proc.stderr
    assert all(r.headers.get("authorization") == "Bearer sk-sentinel-77aa" for r in openai_stub.requests)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "checkpoints.sqlite" for p in files) and any(p.parent.name == "llm" for p in files)
    assert all(b"sk-sentinel-77aa" not in p.read_bytes() for p in files)


@pytest.mark.slow
def test_the_embedded_model_plans_and_a_resume_after_a_kill_asks_nothing_already_answered(tmp_path: Path) -> None:
    """The real path with a real (weak) model: SmolLM2-135M through the embedded llama.cpp server."""
    write_dataset(tmp_path / "pool", "counting-mcq", mcq_rows(12),
                  card={"description": "Which number comes next when counting."})
    out = tmp_path / "out"
    args = [sys.executable, "-m", "graph.cli", "build", "answer multiple choice questions about counting", "--pool",
            str(tmp_path / "pool"), "--size", "2", "--out", str(out), "--llm", "local:smollm2",
            "--llm-orchestrator", "offline", "--llm-verifier", "offline"]  # the planner's path; the executor's: below
    build = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = out / "llm" / "usage.jsonl"
    deadline = time.monotonic() + 240
    while build.poll() is None and time.monotonic() < deadline and len(_records(ledger)) < 2:
        time.sleep(0.05)
    build.kill()
    build.wait()
    answered = {r["key"] for r in _records(ledger) if not r["cached"]}
    assert answered, "the kill landed before the model answered anything"
    resumed = cli("resume", str(out))
    assert resumed.returncode in (0, 2, 3), resumed.stderr  # a benchmark, or a clear report
    assert "design: proposed" in resumed.stderr or "grounding:" in resumed.stderr
    records = _records(ledger)
    real = [r["key"] for r in records if not r["cached"]]
    assert len(real) == len(set(real)), "a call already answered was sent again"
    assert {r["key"] for r in records if r["cached"]} <= answered | set(real)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in ("done", "short", "refused") and summary["llm"]["models"]["planner"] == "local:smollm2"
    assert summary["llm"]["total"]["calls"] == len(real)
    with closing(sqlite3.connect(out / "checkpoints.sqlite")) as conn:
        values = build_graph(checkpointer=sqlite_saver(conn), confine_paths=False).get_state(
            {"configurable": {"thread_id": "build"}}).values
    rounds = values["design_rounds"]
    assert 1 <= rounds <= 3 and sum(e.startswith("grounding:") for e in values["events"]) == rounds


def _records(ledger: Path) -> list[dict]:
    if not ledger.exists():
        return []
    lines = ledger.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def test_two_plans_judged_for_one_dataset_give_one_grounding(pool: Path, tmp_path: Path,
                                                             openai_stub: OpenAIStub) -> None:
    both = {"plans": [_judgement("text-mcq", 4), _judgement("text-open-qa", 5), _judgement("text-mcq", 5)]}
    openai_stub.serve(by_schema({**EXECUTOR,
                                 "DesignProposal": _design(_subtask("Counting")), "DataPreference": PREFERENCE,
                                 "CardJudgement": Reply(both)}))
    state = run("count numbers", pool, tmp_path / "out", size=3, llm=_llm(openai_stub))
    keys = [g.key for g in state["groundings"]]
    assert len(keys) == len(set(keys)) and all(g.plan.recipe == "text-mcq" for g in state["groundings"])
    assert all(g.scores.alignment == 1.0 for g in state["groundings"])  # the better of the two text-mcq judgements
    assert state["status"] == "done"
