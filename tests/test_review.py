"""Human review of the plan: the build pauses after planning and is answered with an approval, an
edited spec or a rejection, from the CLI and from Python (the server path is in test_server.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from langgraph.types import Command
from support import ROOT, cli, items

from graph.builder import build_graph
from graph.checkpoints import memory_saver
from state.context import Context

REQUIREMENT = "draw entailment conclusions from everyday statements and answer general knowledge questions"
DEMO = ROOT / "tools" / "demo_pool"


def test_cli_review_answered_with_an_edited_spec(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paused = cli("build", REQUIREMENT, "--size", "6", "--out", str(out), "--review")
    assert paused.returncode == 0 and f"benchagent resume {out} --approve" in paused.stderr, paused.stderr
    assert items(out) == [] and not (out / "summary.json").exists()
    plan = json.loads((out / "review.json").read_text())
    assert sorted(plan["quotas"].values()) == [3, 3]
    nli, mcq = sorted(plan["quotas"])
    plan["quotas"] = {nli: 4, mcq: 2}
    plan["subtasks"][0]["name"] = "Everyday inference"
    (out / "review.json").write_text(json.dumps(plan))
    done = cli("resume", str(out), "--edit", str(out / "review.json"))
    assert done.returncode == 0, done.stderr
    counts = Counter(i["metadata"]["grounding"] for i in items(out))
    assert counts == {nli: 4, mcq: 2}
    spec = json.loads((out / "spec.json").read_text())
    assert {q["grounding"]: q["target"] for q in spec["allocation"]["quotas"]} == {nli: 4, mcq: 2}
    assert spec["subtasks"][0]["name"] == "Everyday inference"
    again = cli("resume", str(out), "--approve")
    assert again.returncode == 0 and "already finished" in again.stderr


def test_an_answer_to_a_run_not_under_review_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paused = cli("build", REQUIREMENT, "--size", "4", "--out", str(out), "--review")
    assert paused.returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    refused = cli("resume", str(out), "--edit", str(bad))
    assert refused.returncode == 2 and "must hold an object" in refused.stderr


def _paused(tmp_path: Path):
    graph = build_graph(checkpointer=memory_saver(), confine_paths=False)
    config = {"configurable": {"thread_id": "t"}}
    ctx = Context(size=4, out_dir=str(tmp_path / "out"), review=True)
    first = graph.invoke({"requirement": REQUIREMENT}, config, context=ctx)
    return graph, config, ctx, first


def test_python_review_a_refused_edit_then_an_edited_spec(tmp_path: Path) -> None:
    graph, config, ctx, first = _paused(tmp_path)
    request = first["__interrupt__"][0].value
    assert sorted(request["quotas"].values()) == [2, 2] and len(request["subtasks"]) == 2
    grounding = sorted(request["quotas"])[0]
    # more items than the dataset can yield: the solver's diagnosis refuses the edit and asks again
    graph.invoke(Command(resume={"action": "edit", "quotas": {grounding: 10_000}}), config, context=ctx)
    snapshot = graph.get_state(config)
    assert snapshot.next == ("review",) and any("edit refused" in e for e in snapshot.values["events"])
    kept = grounding.split("@")[0]
    edit = {"action": "edit", "subtasks": [{"id": kept, "name": "Only this one"}], "quotas": {grounding: 3}}
    out = graph.invoke(Command(resume=edit), config, context=ctx)
    assert out["status"] == "done"
    assert [(s.id, s.name) for s in graph.get_state(config).values["subtasks"]] == [(kept, "Only this one")]
    assert Counter(i["metadata"]["grounding"] for i in items(tmp_path / "out")) == {grounding: 3}


def test_python_review_approval_builds_the_plan_as_proposed(tmp_path: Path) -> None:
    graph, config, ctx, _ = _paused(tmp_path)
    out = graph.invoke(Command(resume={"action": "approve"}), config, context=ctx)
    assert out["status"] == "done" and len(items(tmp_path / "out")) == 4


def test_python_review_rejection_goes_back_to_design_with_the_comment(tmp_path: Path) -> None:
    graph, config, ctx, _ = _paused(tmp_path)
    graph.invoke(Command(resume={"action": "reject", "comment": "not hard enough"}), config, context=ctx)
    values = graph.get_state(config).values
    assert any("the reviewer rejected the plan: not hard enough" in f for f in values["design_feedback"])
    assert any(e.startswith("design: round 2 revised") for e in values["events"])
