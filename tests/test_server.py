"""`langgraph dev` serves the graph; a run through langgraph_sdk builds a benchmark over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client
from openai_stub import OpenAIStub, Reply, by_schema
from support import ACCEPT_ITEM, COUNTING_CARD, KEEP_STEP, ROOT, items, mcq_rows, write_dataset

from tools.pool import DEMO_POOL

EXECUTOR = {"StepAction": Reply(KEEP_STEP), "SemanticJudgement": Reply(ACCEPT_ITEM)}

SENTINEL = "sk-sentinel-server-9d2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's runs root and pool root, and a folder outside both."""
    top = tmp_path_factory.mktemp("roots")
    for name in ("runs", "pools", "outside"):
        (top / name).mkdir()
    write_dataset(top / "pools" / "p", "counting-mcq", mcq_rows(6), card=COUNTING_CARD)
    write_dataset(top / "outside" / "p", "counting-mcq", mcq_rows(6))
    return top


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, roots: Path) -> Iterator[str]:
    port = _free_port()
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or "langgraph"
    env = {**os.environ, "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1", "OPENAI_API_KEY": SENTINEL,
           "BENCHAGENT_RUNS_ROOT": str(roots / "runs"),
           "BENCHAGENT_POOL_ROOTS": os.pathsep.join([str(roots / "pools"), str(DEMO_POOL)])}
    log = tmp_path_factory.mktemp("server") / "dev.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([cli, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"langgraph dev did not start: {log.read_text()[-2000:]}")
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_run_over_http_builds_a_benchmark(server: str, roots: Path) -> None:
    client = get_sync_client(url=server)
    assistant = client.assistants.search(graph_id="benchmark_agent")[0]["assistant_id"]
    schemas = client.assistants.get_schemas(assistant)
    assert list(schemas["input_schema"]["properties"]) == ["requirement"]
    assert "max_design_rounds" in schemas["context_schema"]["properties"]
    thread = client.threads.create()
    out = roots / "runs" / "nli"
    result = client.runs.wait(thread["thread_id"], "benchmark_agent",
                              input={"requirement": "draw entailment conclusions from everyday statements"},
                              context={"size": 3, "out_dir": str(out)})
    assert result["status"] == "done" and result["summary"]["accepted"] == 3
    assert len(items(out)) == 3
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"]["design_rounds"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("where, setting", [
    ({"out_dir": "/etc/benchagent-probe"}, "BENCHAGENT_RUNS_ROOT"),
    ({"out_dir": "../../../tmp/benchagent-escape"}, "BENCHAGENT_RUNS_ROOT"),
    ({"pool": "/etc"}, "BENCHAGENT_POOL_ROOTS"),
    ({"pool": "OUTSIDE"}, "BENCHAGENT_POOL_ROOTS"),
])
def test_runs_over_http_outside_the_roots_are_refused_and_write_nothing(server: str, roots: Path, where: dict,
                                                                        setting: str) -> None:
    client = get_sync_client(url=server)
    before = sorted(p.relative_to(roots).as_posix() for p in roots.rglob("*"))
    where = {k: str(roots / "outside" / "p") if v == "OUTSIDE" else v for k, v in where.items()}
    context = {"size": 2, "out_dir": str(roots / "runs" / "refused"), "pool": str(roots / "pools" / "p"), **where}
    thread = client.threads.create()
    result = client.runs.wait(thread["thread_id"], "benchmark_agent",
                              input={"requirement": "answer multiple choice questions"}, context=context)
    assert result["status"] == "refused" and setting in result["message"]
    assert sorted(p.relative_to(roots).as_posix() for p in roots.rglob("*")) == before
    assert not Path("/etc/benchagent-probe").exists() and not Path("/tmp/benchagent-escape").exists()


@pytest.mark.slow
def test_a_review_over_http_is_answered_with_an_edited_spec(server: str, roots: Path) -> None:
    client = get_sync_client(url=server)
    thread = client.threads.create()
    out = roots / "runs" / "reviewed"
    first = client.runs.wait(thread["thread_id"], "benchmark_agent",
                             input={"requirement": "answer multiple choice questions about counting"},
                             context={"size": 4, "out_dir": str(out), "pool": str(roots / "pools" / "p"),
                                      "review": True})
    request = first["__interrupt__"][0]["value"]
    (grounding,) = request["quotas"]
    assert request["quotas"][grounding] == 4 and items(out) == []
    done = client.runs.wait(thread["thread_id"], "benchmark_agent",
                            command={"resume": {"action": "edit", "quotas": {grounding: 3}}},
                            context={"size": 4, "out_dir": str(out), "pool": str(roots / "pools" / "p"),
                                     "review": True})
    assert done["status"] == "done" and len(items(out)) == 3


@pytest.mark.slow
def test_an_llm_run_over_http_keeps_the_key_out_of_the_server_and_the_run(server: str, roots: Path) -> None:
    judged = {"score": 5, "reason": "fits"}
    script = by_schema({**EXECUTOR,
        "DesignProposal": Reply({"subtasks": [{"name": "Counting", "description": "Count.", "clause": "count",
                                               "recipe": "text-mcq", "keywords": ["counting"]}], "not_covered": []}),
        "DataPreference": Reply({"modality": "text", "annotation": "question and options", "domain": "numbers",
                                 "query": "counting"}),
        "CardJudgement": Reply({"plans": [{"recipe": "text-mcq", "alignment": judged, "robustness": judged,
                                           "preservation": judged}]})})
    client = get_sync_client(url=server)
    out = roots / "runs" / "llm"
    with OpenAIStub(script) as stub:
        thread = client.threads.create()
        result = client.runs.wait(thread["thread_id"], "benchmark_agent", input={"requirement": "count numbers"},
                                  context={"size": 2, "out_dir": str(out), "pool": str(roots / "pools" / "p"),
                                           "llm": f"scripted={stub.url}"})
        assert result["status"] == "done" and stub.requests
        assert all(r.headers["authorization"] == f"Bearer {SENTINEL}" for r in stub.requests)
    held = json.dumps([client.threads.get_state(thread["thread_id"]), client.threads.get(thread["thread_id"]),
                       client.runs.list(thread["thread_id"]), client.threads.get_history(thread["thread_id"])],
                      default=str)
    assert "scripted=" in held and SENTINEL not in held
    written = [p for p in [*out.rglob("*"), *(ROOT / ".langgraph_api").glob("*")] if p.is_file()]
    assert written and all(SENTINEL.encode() not in p.read_bytes() for p in written)
