"""Run one model over a benchmark's items, score the replies and write DIR/eval/<model>.json.

Every call goes through the shared LLMClient, whose cache (kept under DIR/eval/) holds each reply by model
and exact messages, i.e. by (model, item, variant): an interrupted eval run again re-asks only what is missing.
Items the model could not be asked (a modality it cannot take, an endpoint that stayed down) are recorded
as errors with the reason and left out of the accuracy; unparseable replies are scored wrong and listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.evaluation.answers import is_correct, parse
from tools.evaluation.messages import BLIND, FULL, MediaError, messages, signal
from tools.evaluation.stats import summarise
from tools.files import write_json
from tools.llm import LLMClient, LLMError, LLMRejected, ModelSpec
from tools.run_store import ITEMS, safe_name

EVAL = "eval"
_MODALITY_WORDS = ("image", "audio", "vision", "multimodal", "modalit", "content part", "content type")


class EvalError(ValueError):
    """Bad input to an eval: the message names the problem and the fix."""


def load_items(run_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The benchmark's items (the first `limit` of them), or EvalError saying why there are none."""
    path = run_dir / ITEMS
    if not path.is_file():
        raise EvalError(f"{run_dir} is not a built benchmark (no {ITEMS}); build one with benchagent build")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not all(k in item for k in ("id", "subtask", "question", "answer")):
                raise ValueError("not an item with id, subtask, question and answer")
        except ValueError as exc:
            raise EvalError(f"{path} line {number} is not a valid item ({exc}); rebuild the benchmark") from None
        items.append(item)
    if not items:
        raise EvalError(f"{path} holds no items; build the benchmark again with a larger --size")
    return items[:limit] if limit is not None else items


def result_path(run_dir: Path, spec: ModelSpec) -> Path:
    return run_dir / EVAL / f"{safe_name(spec.name)}.json"


def tasks(items: list[dict[str, Any]], ablate: bool) -> list[tuple[dict[str, Any], str]]:
    """(item, variant) pairs to ask: every item in full, and with ablate each item that has a signal, blind."""
    return [(i, FULL) for i in items] + [(i, BLIND) for i in items if ablate and signal(i)]


def evaluate(client: LLMClient, spec: ModelSpec, items: list[dict[str, Any]], run_dir: Path, *,
             ablate: bool = False, concurrency: int = 4, done: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Ask `spec` every item (and blind variants with ablate), score, write and return the report."""
    def one(task: tuple[dict[str, Any], str]) -> dict[str, Any]:
        try:
            return _ask(client, spec, run_dir, *task)
        finally:
            done()

    todo = tasks(items, ablate)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
        records = list(pool.map(one, todo))
    report = _report(spec, items, records, ablate)
    write_json(result_path(run_dir, spec), report)
    return report


def _ask(client: LLMClient, spec: ModelSpec, run_dir: Path, item: dict[str, Any], variant: str) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item["id"], "subtask": item["subtask"], "variant": variant,
                              "answer": item["answer"], "reply": None, "parsed": None, "correct": False}
    kind = signal(item) if variant == FULL and signal(item) in ("image", "audio") else None
    try:
        if kind and spec.local:
            raise MediaError(f"{spec.name} cannot take {kind} input: embedded local models read text only; "
                             "evaluate it on text items or use a multimodal endpoint")
        reply, info = client.complete(spec, f"eval:{variant}", messages(item, run_dir, variant))
    except MediaError as exc:
        return {**record, "status": "error", "error": str(exc)}
    except LLMRejected as exc:
        said = str(exc)
        if kind and any(w in said.lower() for w in _MODALITY_WORDS):
            said = f"{spec.name} cannot take {kind} input: {said}"
        return {**record, "status": "error", "error": said}
    except LLMError as exc:
        return {**record, "status": "error", "error": str(exc)}
    parsed = parse(reply, item.get("choices"))
    return {**record, "reply": reply, "parsed": parsed, "correct": is_correct(parsed, item), "cached": info.cached,
            "status": "ok" if parsed is not None else "unparseable"}


def _counts(records: list[dict[str, Any]], subtasks: list[str]) -> dict[str, tuple[int, int]]:
    counts = {s: [0, 0] for s in subtasks}
    for r in records:
        if r["status"] != "error":
            counts[r["subtask"]][0] += r["correct"]
            counts[r["subtask"]][1] += 1
    return {s: (k, n) for s, (k, n) in counts.items()}


def _report(spec: ModelSpec, items: list[dict[str, Any]], records: list[dict[str, Any]],
            ablate: bool) -> dict[str, Any]:
    subtasks = list(dict.fromkeys(i["subtask"] for i in items))
    full = [r for r in records if r["variant"] == FULL]
    scores = summarise(_counts(full, subtasks))
    for name, row in scores["per_subtask"].items():
        row["unparseable"] = sum(r["subtask"] == name and r["status"] == "unparseable" for r in full)
        row["errors"] = sum(r["subtask"] == name and r["status"] == "error" for r in full)
    report: dict[str, Any] = {
        "model": spec.name, "base_url": spec.base_url, "items": len(items), **scores,
        "unparseable": [{"id": r["id"], "reply": r["reply"]} for r in full if r["status"] == "unparseable"],
        "errors": [{"id": r["id"], "variant": r["variant"], "error": r["error"]}
                   for r in records if r["status"] == "error"],
        "results": records,
    }
    if ablate:
        report["ablation"] = _ablation(items, full, [r for r in records if r["variant"] == BLIND], subtasks)
    return report


def _ablation(items: list[dict[str, Any]], full: list[dict[str, Any]], blind: list[dict[str, Any]],
              subtasks: list[str]) -> dict[str, Any]:
    """Accuracy without each item's signal, beside full accuracy on the same items (both asked without error)."""
    signals = {i["id"]: signal(i) for i in items}
    scored_full = {r["id"]: r for r in full if r["status"] != "error"}
    pairs = [(scored_full[b["id"]], b) for b in blind if b["status"] != "error" and b["id"] in scored_full]
    with_signal = [s for s in subtasks if any(f["subtask"] == s for f, _ in pairs)]
    blind_scores = summarise(_counts([b for _, b in pairs], with_signal))
    full_scores = summarise(_counts([f for f, _ in pairs], with_signal))
    per_subtask: dict[str, Any] = {}
    for name in with_signal:
        seen, kept = full_scores["per_subtask"][name], blind_scores["per_subtask"][name]
        per_subtask[name] = {
            **kept, "signal": sorted({signals[f["id"]] for f, _ in pairs if f["subtask"] == name}),
            "full_accuracy": seen["accuracy"], "drop": seen["accuracy"] - kept["accuracy"],
            # the share of full accuracy that survives without the signal; None when there was none to keep
            "retained": kept["accuracy"] / seen["accuracy"] if seen["accuracy"] else None}
    return {"per_subtask": per_subtask, "micro": blind_scores["micro"], "macro": blind_scores["macro"],
            "full_micro": full_scores["micro"], "correct_blind": [b["id"] for _, b in pairs if b["correct"]]}
