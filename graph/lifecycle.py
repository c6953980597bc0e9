"""The nodes that open and close a run: validate input and make the run directory; write the
summary and the benchmark's dataset card."""

from __future__ import annotations

import html
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.allocation import spec_of
from agents.coverage import coverage
from agents.llm import run_client, uses_llm
from agents.refresh import RefreshError, lineage, next_version
from agents.resources import pool_for, pool_path, store_for
from graph.run_dirs import RunDirError, ServerRoots, check_run_dir
from state.context import Context
from state.graph_state import MAX_REQUIREMENT_CHARS, REQUIREMENT_PREVIEW_CHARS, BuildState
from tools.exports import export_all
from tools.files import write_atomic
from tools.licences import licence_terms, strictest
from tools.llm import ROLES, models_for
from tools.pool import PoolError
from tools.quality.blind import blind_report
from tools.quality.letters import balance_letters, letter_report
from tools.run_store import CARD, RUN, SPEC, SUMMARY, RunStore


def default_run_dir(requirement: str) -> Path:
    slug = "-".join(re.findall(r"[a-z0-9]+", requirement.lower())[:6]) or "benchmark"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{slug}-{stamp}"


def make_prepare_node(confine: bool = True):
    """The entry node. `confine` holds out_dir and pool to the server roots (graph.main serves the
    graph to any HTTP caller); the CLI, run by the user on their own machine, passes False."""

    def prepare(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["design", "orchestrator", "__end__"]]:
        ctx = runtime.context or Context()
        started = time.time()
        requirement = (state.get("requirement") or "").strip()
        if not requirement:
            return _refuse("the requirement is empty; describe what the benchmark should test")
        if len(requirement) > MAX_REQUIREMENT_CHARS:
            return _refuse(f"the requirement is {len(requirement):,} characters, over the limit of "
                           f"{MAX_REQUIREMENT_CHARS:,}; state what to test in a paragraph")
        run_dir = Path(state.get("run_dir") or ctx.out_dir or default_run_dir(requirement)).resolve()
        this_run = {"requirement": requirement, "context": ctx.model_dump()}
        try:
            if confine:
                ServerRoots.from_env().check(run_dir, pool_path(ctx))
            pool = pool_for(ctx)
            check_run_dir(run_dir, pool.root, this_run)
            if ctx.refresh_of and confine:
                ServerRoots.from_env().check(Path(ctx.refresh_of).resolve(), pool.root)
            planned = next_version(ctx.refresh_of) if ctx.refresh_of else None
        except (RunDirError, PoolError, RefreshError) as exc:
            return _refuse(str(exc))
        store = store_for(str(run_dir))
        if not (run_dir / RUN).exists():
            store.write(RUN, {**this_run, "started": started, "pool": str(pool.root)})
        preview = requirement[:REQUIREMENT_PREVIEW_CHARS] + ("..." if len(requirement) > REQUIREMENT_PREVIEW_CHARS
                                                               else "")
        update = {"requirement": preview, "run_dir": str(run_dir), "status": "running",
                  "events": [f"prepare: run in {run_dir}"]}
        if planned is not None:  # a refresh realises the earlier version's plan again, with other rows
            return Command(goto="orchestrator", update={**update, **planned, "events": [
                *update["events"], f"prepare: the next version of {ctx.refresh_of}, its subtasks and quotas"]})
        return Command(goto="design", update=update)

    return prepare


def _refuse(message: str) -> Command:
    return Command(goto="__end__", update={"status": "refused", "message": message})


def _card_markdown(requirement: str, state: BuildState, items: list[dict], summary: dict) -> str:
    # Requirement, subtask and source text come from callers and datasets: escaped, never rendered as HTML.
    esc = html.escape
    lines = [f"# Benchmark: {esc(requirement)}", "",
             f"Built by Benchmark Agent ({esc(summary['decider'])} decider, seed {summary['seed']}). "
             f"Status: {summary['status']}. {summary['accepted']} of {summary['requested']} items.", "",
             "## Coverage", ""]
    for entry in summary["coverage"]:
        lines.append(f"- {esc(entry['clause'])}: served by {', '.join(f'`{esc(i)}`' for i in entry['subtasks'])}"
                     if entry["served"] else f"- {esc(entry['clause'])}: **not served**: {esc(entry['why'])}")
    if summary.get("lineage"):
        earlier = ", ".join(f"`{esc(run)}`" for run in summary["lineage"])
        lines += ["", "## Lineage", "", f"Version {len(summary['lineage']) + 1} of this benchmark: the same subtasks "
                  f"and per-quota counts as {earlier} (newest first), with a new seed and no source row any of "
                  "them used."]
    lines += ["", "## Subtasks", ""]
    for sub in state.get("subtasks", []):
        got = summary["per_subtask"].get(sub.id, {})
        lines.append(f"- **{esc(sub.name)}** (`{esc(sub.id)}`, {sub.modality}): {esc(sub.description)} "
                     f"{got.get('accepted', 0)} items.")
    sources = Counter((s["dataset"], s.get("license") or "unknown") for i in items for s in _sources(i))
    if summary.get("quality"):
        lines += ["", "## Quality", "", "Blind solvers see only the options and question text, never the image, audio "
                  "or context; a good benchmark keeps each near chance. Answer letters are balanced per subtask.", "",
                  "| subtask | items | chance | worst blind solver | letters p |", "|---|---|---|---|---|"]
        letters = summary["quality"]["letters"]["per_subtask"]
        for sub, row in summary["quality"]["blind_solvers"].items():
            lines.append(f"| {esc(sub)} | {row['n']} | {row['chance']:.2f} | {esc(str(row['worst']))} "
                         f"{row['worst_excess']:+.2f} | {letters.get(sub, {}).get('p_value', 1.0):.2f} |")
    if "llm" in summary:
        total = summary["llm"]["total"]
        lines += ["", "## Cost", "", f"{total['calls']} LLM calls ({total['cached_calls']} from the cache), "
                  f"{total['prompt_tokens']} prompt and {total['completion_tokens']} completion tokens, "
                  f"${total['cost_usd']:.4f}."]
    lines += ["", "## Sources", "", "| dataset | license | items |", "|---|---|---|"]
    lines += [f"| {esc(d)} | {esc(lic)} | {n} |" for (d, lic), n in sorted(sources.items())]
    if summary.get("license"):
        terms = licence_terms(summary["license"])
        lines += ["", f"The strictest source licence is **{esc(summary['license'])}**"
                  + (f" ({terms})" if terms else "") + ": it governs how this benchmark as a whole may be shared."]
    lines += ["", "## Files", "",
              "- `items.jsonl`: one item a line (question, choices, answer letter or text, media paths).",
              "- `media/`: images and audio the items reference.", "- `spec.json`: the grounded, allocated spec.",
              "- `rejected.jsonl`: samples the verifier discarded, with reasons.",
              "- `exports/`: the benchmark for the harnesses people use: a Hugging Face dataset folder (`hf/`, "
              "`datasets.load_dataset`), an lm-evaluation-harness task (`lm-eval/`) and an Inspect task (`inspect/`); "
              "`benchagent export` writes them again.", "",
              "## Known limitations", "",
              "- Answers are taken from the source datasets and checked against them; source label errors "
              "carry over.",
              "- Offline speech is espeak-ng: intelligible but synthetic."]
    return "\n".join(lines) + "\n"


def _sources(item: dict) -> list[dict]:
    """Every source record an item was made from: its own row and any other it drew on (noise, images)."""
    return [item["source"], *item.get("metadata", {}).get("sources", [])]


def summarise(state: BuildState, store: RunStore, ctx: Context, items: list[dict]) -> dict:
    rejected = store.rejections()
    by_subtask = Counter(i["subtask"] for i in items)
    rejected_by = Counter(r["grounding"].split("@")[0] for r in rejected)
    alloc = state.get("allocation")
    targets = {s.id: alloc.for_subtask(s.id) if alloc else 0 for s in state.get("subtasks", [])}
    asked = {s.id: s.count for s in state.get("subtasks", []) if s.count}
    run = store.read(RUN)
    return {
        "requested": alloc.total if alloc else ctx.size,
        "accepted": len(items),
        "rejected": len(rejected),
        "per_subtask": {s: {"target": t, "accepted": by_subtask.get(s, 0), "rejected": rejected_by.get(s, 0),
                            **({"asked": asked[s]} if s in asked else {})} for s, t in targets.items()},
        "durations_s": {"total_wall": round(time.time() - run["started"], 2), **store.durations()},
        "decider": ctx.llm,
        "seed": ctx.seed,
        "coverage": coverage(state.get("subtasks", []), state.get("not_covered", {})),
        "license": strictest([s.get("license") for i in items for s in _sources(i)]),
        "quality": {"letters": letter_report(items), "blind_solvers": blind_report(items)},
        "quotas": _quota_report(state),
        **({"lineage": [str(run) for run in lineage(ctx.refresh_of)]} if ctx.refresh_of else {}),
        "not_covered": state.get("not_covered", {}),
        **({"llm": _llm_usage(ctx, state["run_dir"])} if any(uses_llm(ctx, r) for r in ROLES) else {}),
    }


def _quota_report(state: BuildState) -> dict[str, dict]:
    """Per quota: what it drew, accepted, replaced and repaired, its measured yield, and for a quota left
    short the shortfall and why it stopped."""
    alloc, progress = state.get("allocation"), state.get("progress", {})
    out = {}
    for q in alloc.quotas if alloc else []:
        p = progress.get(q.grounding)
        if p is None:
            continue
        seen = p["accepted"] + p["rejected"]
        entry = {"subtask": q.subtask, "dataset": q.dataset, "target": q.target, "accepted": p["accepted"],
                 "drawn": p["drawn"], "replaced": p["rejected"], "repaired": p.get("repaired", 0),
                 "yield": round(p["accepted"] / seen, 3) if seen else None}
        if p["accepted"] < q.target:
            halt = state.get("halt") or {}
            entry.update(shortfall=q.target - p["accepted"],
                         cause=p.get("cause") or halt.get("message") or "the build stopped before it was met")
        out[q.grounding] = entry
    return out


def _llm_usage(ctx: Context, run_dir: str) -> dict:
    """Tokens and cost per role, decision and model, over every process of the run (the ledger is on disk)."""
    client = run_client(ctx, run_dir)
    models = {role: spec.name for role, spec in models_for(ctx.llm, ctx.llm_roles).items()}
    return {"models": models, **client.usage(), "failures": client.failures}


def finish(state: BuildState, ctx: Context) -> dict:
    """Write what a finished run leaves beside its items: spec, summary and card, each from the final
    state, so a damaged one is repaired by finishing again; leftover drafts and media are removed."""
    store = store_for(state["run_dir"])
    items = store.items()
    balanced = balance_letters(items, ctx.seed)
    if balanced != items:
        store.rewrite_items(balanced)
        items = balanced
    store.tidy(items)
    if state.get("allocation") is not None:  # the final allocation, after any shortfall transfers
        store.write(SPEC, spec_of(state, ctx, store.requirement).model_dump(mode="json"))
    summary = summarise(state, store, ctx, items)
    status = state.get("status", "running")
    message = state.get("message", "")
    if status == "running":
        short = {s: v for s, v in summary["per_subtask"].items()
                 if v["accepted"] < max(v["target"], v.get("asked", 0))}
        status = "short" if short else "done"
        causes = "; ".join(f"{k} is {v['shortfall']} short: {v['cause']}" for k, v in summary["quotas"].items()
                           if v.get("shortfall"))
        message = (f"built {summary['accepted']} of {summary['requested']} items" if not short else
                   f"built {summary['accepted']} of {summary['requested']} items; short in "
                   + ", ".join(f"{s} ({v['accepted']}/{max(v['target'], v.get('asked', 0))})" for s, v in short.items())
                   + (f" ({causes})" if causes else "") + ". Add datasets or ask for fewer items.")
    summary.update(status=status, message=message)
    store.write(SUMMARY, summary)
    write_atomic(store.root / CARD, _card_markdown(store.requirement, state, items, summary).encode("utf-8"))
    if items:  # for the harnesses people load benchmarks with; a format that fails says why, the build stands
        summary["exports"] = export_all(store.root)
        store.write(SUMMARY, summary)
    return {"status": status, "message": message, "summary": summary}


def assemble(state: BuildState, runtime: Runtime[Context]) -> dict:
    return finish(state, runtime.context or Context())
