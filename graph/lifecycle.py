"""The nodes that open and close a run: validate input and make the run directory; write the
summary and the benchmark's dataset card."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.resources import pool_for, store_for
from state.context import Context
from state.graph_state import BuildState
from tools.pool import PoolError
from tools.run_store import RUN, SUMMARY, RunStore


def default_run_dir(requirement: str) -> Path:
    slug = "-".join(re.findall(r"[a-z0-9]+", requirement.lower())[:6]) or "benchmark"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{slug}-{stamp}"


def prepare(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["design", "__end__"]]:
    ctx = runtime.context or Context()
    started = time.time()
    requirement = (state.get("requirement") or "").strip()
    if not requirement:
        return Command(goto="__end__", update={
            "status": "failed", "message": "the requirement is empty; describe what the benchmark should test"})
    try:
        pool = pool_for(ctx)
    except PoolError as exc:
        return Command(goto="__end__", update={"status": "failed", "message": str(exc)})
    run_dir = Path(state.get("run_dir") or ctx.out_dir or default_run_dir(requirement)).resolve()
    store = store_for(str(run_dir))
    if not (run_dir / RUN).exists():
        store.write(RUN, {"requirement": requirement, "context": ctx.model_dump(), "started": started,
                          "pool": str(pool.root)})
    return Command(goto="design", update={"requirement": requirement, "run_dir": str(run_dir),
                                          "status": "running", "events": [f"prepare: run in {run_dir}"]})


def _card_markdown(state: BuildState, items: list[dict], summary: dict) -> str:
    lines = [f"# Benchmark: {state['requirement']}", "",
             f"Built by Benchmark Agent ({summary['decider']} decider, seed {summary['seed']}). "
             f"Status: {summary['status']}. {summary['accepted']} of {summary['requested']} items.", "",
             "## Subtasks", ""]
    for sub in state.get("subtasks", []):
        got = summary["per_subtask"].get(sub.id, {})
        lines.append(f"- **{sub.name}** (`{sub.id}`, {sub.modality}): {sub.description} "
                     f"{got.get('accepted', 0)} items.")
    sources = Counter((i["source"]["dataset"], i["source"].get("license") or "unknown") for i in items)
    lines += ["", "## Sources", "", "| dataset | license | items |", "|---|---|---|"]
    lines += [f"| {d} | {lic} | {n} |" for (d, lic), n in sorted(sources.items())]
    lines += ["", "## Files", "",
              "- `items.jsonl`: one item a line (question, choices, answer letter or text, media paths).",
              "- `media/`: images and audio the items reference.", "- `spec.json`: the grounded, allocated spec.",
              "- `rejected.jsonl`: samples the verifier discarded, with reasons.", "",
              "## Known limitations", "",
              "- Answers are taken from the source datasets and checked against them; source label errors "
              "carry over.",
              "- Offline speech is espeak-ng: intelligible but synthetic."]
    return "\n".join(lines) + "\n"


def summarise(state: BuildState, store: RunStore, ctx: Context, items: list[dict]) -> dict:
    rejected = store.rejections()
    by_subtask = Counter(i["subtask"] for i in items)
    rejected_by = Counter(r["grounding"].split("@")[0] for r in rejected)
    alloc = state.get("allocation")
    targets = {s.id: alloc.for_subtask(s.id) if alloc else 0 for s in state.get("subtasks", [])}
    run = store.read(RUN)
    return {
        "requested": ctx.size,
        "accepted": len(items),
        "rejected": len(rejected),
        "per_subtask": {s: {"target": t, "accepted": by_subtask.get(s, 0), "rejected": rejected_by.get(s, 0)}
                        for s, t in targets.items()},
        "durations_s": {"total_wall": round(time.time() - run["started"], 2), **store.durations()},
        "decider": ctx.llm,
        "seed": ctx.seed,
    }


def assemble(state: BuildState, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context or Context()
    store = store_for(state["run_dir"])
    items = store.items()
    summary = summarise(state, store, ctx, items)
    status = state.get("status", "running")
    message = state.get("message", "")
    if status == "running":
        short = {s: v for s, v in summary["per_subtask"].items() if v["accepted"] < v["target"]}
        status = "short" if short else "done"
        message = (f"built {summary['accepted']} of {summary['requested']} items" if not short else
                   f"the data ran out: built {summary['accepted']} of {summary['requested']} items; short in "
                   + ", ".join(f"{s} ({v['accepted']}/{v['target']})" for s, v in short.items())
                   + ". Add datasets or ask for fewer items.")
    summary.update(status=status, message=message)
    store.write(SUMMARY, summary)
    (store.root / "README.md").write_text(_card_markdown(state, items, summary), encoding="utf-8")
    return {"status": status, "message": message, "summary": summary}
