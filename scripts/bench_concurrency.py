"""Concurrent realisation against a scripted LLM: throughput against its limit, checkpoint bytes per item
as the build grows, and the graph's overhead per item beside a plain loop doing the same work.

    .venv/bin/python scripts/bench_concurrency.py [--quick]

Throughput: the orchestrator and verifier roles use the scripted server at 1 s a call; the limit is
concurrency / (calls per item x latency), calls per item counted from what the server received.
Checkpoints: the CLI's SQLite checkpointer, zero-latency server, 200 and 2,000 items.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the scripted server and pool writers live with the tests

from openai_stub import OpenAIStub, Reply, by_schema  # noqa: E402
from support import ACCEPT_ITEM, COUNTING_CARD, KEEP_STEP, mcq_rows, write_dataset  # noqa: E402

from agents.executor import realise  # noqa: E402
from agents.resources import pool_for, store_for  # noqa: E402
from agents.semantic import LLMVerifier  # noqa: E402
from agents.step_policy import LLMStepPolicy  # noqa: E402
from agents.verifier import OfflineVerifier  # noqa: E402
from graph.builder import build_graph  # noqa: E402
from graph.checkpoints import sqlite_saver  # noqa: E402
from state.context import Context  # noqa: E402
from tools.llm import LLMClient, models_for  # noqa: E402
from tools.plans.recipes import sample_row  # noqa: E402
from tools.plans.steps import StepEnv  # noqa: E402
from tools.run_store import item_id  # noqa: E402

REQUIREMENT = "answer short questions about counting numbers"
SCRIPT = by_schema({"StepAction": Reply(KEEP_STEP), "SemanticJudgement": Reply(ACCEPT_ITEM)})


def _pool(root: Path, rows: int) -> Path:
    write_dataset(root, "counting-mcq", mcq_rows(rows), card=COUNTING_CARD)
    return root


def _build(pool: Path, out: Path, size: int, stub: OpenAIStub, concurrency: int) -> tuple[float, dict, int, int]:
    """One durable build; returns wall seconds, the final state, the bytes its checkpoints and pending
    writes hold, and the checkpoint database's size on disk."""
    model = f"stub-model={stub.url}"
    ctx = Context(size=size, pool=str(pool), out_dir=str(out), llm_roles={"orchestrator": model, "verifier": model},
                  concurrency=concurrency, llm_concurrency=concurrency, attempts_per_item=2)
    db = out.parent / f"{out.name}.sqlite"
    with closing(sqlite3.connect(db, check_same_thread=False)) as conn:
        graph = build_graph(checkpointer=sqlite_saver(conn), confine_paths=False)
        config = {"configurable": {"thread_id": "b"}}
        start = time.perf_counter()
        graph.invoke({"requirement": REQUIREMENT}, config, context=ctx)
        seconds = time.perf_counter() - start
        state = graph.get_state(config).values
        held = sum(conn.execute(q).fetchone()[0] for q in (
            "SELECT sum(length(checkpoint)) + sum(length(metadata)) FROM checkpoints",
            "SELECT sum(length(value)) FROM writes"))
    assert state["status"] == "done", state.get("message")
    return seconds, state, held, db.stat().st_size


def throughput(tmp: Path, concurrency: int, latency: float, size: int) -> None:
    """Items per second while items are being made: from the build's first LLM request to its last answer."""
    pool = _pool(tmp / f"pool-t{concurrency}", size + 20)
    with OpenAIStub(SCRIPT, latency=latency) as stub:
        _build(pool, tmp / f"t{concurrency}", size, stub, concurrency)
        arrivals = [r.at for r in stub.requests]
    calls = len(arrivals) / size
    rate = size / (max(arrivals) + latency - min(arrivals))
    limit = concurrency / (calls * latency)
    print(f"concurrency {concurrency:2d}, latency {latency:g} s, {size} items: {calls:.2f} calls/item, "
          f"{rate:6.2f} items/s, limit {limit:6.2f}, {rate / limit:.2f} of it")


def checkpoints(tmp: Path, sizes: tuple[int, ...], concurrency: int) -> None:
    pool = _pool(tmp / "pool-c", int(max(sizes) / 0.85) + 50)  # the planner expects a 0.9 yield
    with OpenAIStub(SCRIPT) as stub:
        for size in sizes:
            seconds, state, held, on_disk = _build(pool, tmp / f"c{size}", size, stub, concurrency)
            print(f"{size:5d} items, concurrency {concurrency}: checkpoints {held / size / 1024:5.2f} KB/item "
                  f"({on_disk / size / 1024:5.2f} KB/item on disk), graph {seconds / size * 1000:6.2f} ms/item")
            plain = plain_loop(pool, tmp / f"p{size}", state, stub)
            print(f"{'':5s}       plain loop doing the same work: {plain * 1000:6.2f} ms/item")


def plain_loop(pool: Path, out: Path, state: dict, stub: OpenAIStub) -> float:
    """The same samples through realise + verify + the item log, with no graph and no checkpoints."""
    out.mkdir(parents=True)
    ctx = Context(pool=str(pool), out_dir=str(out))
    store, opened = store_for(str(out)), pool_for(ctx)
    grounding = state["groundings"][0]
    subtasks = {s.id: s for s in state["subtasks"]}
    accepted = store_for(state["run_dir"]).items()
    with LLMClient(models_for(f"stub-model={stub.url}", {}), out) as client:
        policy = LLMStepPolicy(client, grounding.subtask)
        verifier = LLMVerifier(client, OfflineVerifier(speech_check=False), subtasks)
        start = time.perf_counter()
        for record in accepted:
            sid = record["source"]["sample_id"]
            row, variant = sample_row(opened, grounding.plan.dataset, sid)
            env = StepEnv(pool=opened, card=opened.card(grounding.plan.dataset), row=row, store=store,
                          item_id=item_id(grounding.subtask, grounding.plan.dataset, sid), seed=0, variant=variant,
                          sample_id=sid, llm=client)
            item = realise(grounding, env, {"grounding": grounding.key, "sample_id": sid, "repairs": 0}, policy)
            if verifier.verify(item, row, store, opened).action == "accept":
                store.add_item(item)
        return (time.perf_counter() - start) / len(accepted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller builds (a smoke run of the script)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            throughput(Path(tmp), 4, 0.2, 16)
            checkpoints(Path(tmp), (20, 60), 4)
            return
        for concurrency in (1, 4, 16):
            throughput(Path(tmp), concurrency, 1.0, 4 * concurrency)
        checkpoints(Path(tmp), (200, 2000), 4)


if __name__ == "__main__":
    main()
