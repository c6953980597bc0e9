"""`langgraph dev` serves the graph; a run through langgraph_sdk builds a benchmark over HTTP."""

from __future__ import annotations

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
from support import ROOT, items


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or "langgraph"
    env = {**os.environ, "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
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
def test_run_over_http_builds_a_benchmark(server: str, tmp_path: Path) -> None:
    client = get_sync_client(url=server)
    assistant = client.assistants.search(graph_id="benchmark_agent")[0]["assistant_id"]
    schemas = client.assistants.get_schemas(assistant)
    assert list(schemas["input_schema"]["properties"]) == ["requirement"]
    assert "max_design_rounds" in schemas["context_schema"]["properties"]
    thread = client.threads.create()
    out = tmp_path / "out"
    result = client.runs.wait(thread["thread_id"], "benchmark_agent",
                              input={"requirement": "draw entailment conclusions from everyday statements"},
                              context={"size": 3, "out_dir": str(out)})
    assert result["status"] == "done" and result["summary"]["accepted"] == 3
    assert len(items(out)) == 3
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"]["design_rounds"] == 1
