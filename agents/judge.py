"""The LLM judge: the paper's six metrics of a benchmark's quality, on 1-5 rubrics with anchors for 1, 3
and 5, normalised to 0-100 as the paper reports them. User-Intention Alignment is judged once for the
benchmark; the other five on a sample of items stratified by subtask. Several judges can be combined,
with their agreement reported."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agents.semantic import media_note
from state.models import Item, Subtask
from tools.llm import LLMClient, LLMError, models_for
from tools.text import LETTERS

Score = Literal[1, 2, 3, 4, 5]
ITEM_METRICS = {
    "fsq": ("Format & Schema Quality", "1: fields missing or malformed, options broken; 3: usable with flaws "
            "(odd wording, uneven options); 5: clean, complete, consistently formatted."),
    "qac": ("Question-Answer Coherence", "1: the labelled answer does not answer the question; 3: it does, but "
            "another option is defensible; 5: exactly one option is right and it is the labelled one."),
    "cqc": ("Context-Question Correspondence", "1: the question cannot be answered from its context and media "
            "(or the evidence is broken); 3: answerable with assumptions; 5: fully supported by them."),
    "tsd": ("Target Signal Dependency", "1: answerable without the image, audio or context (a shortcut in the "
            "text or options); 3: the signal helps but is not needed; 5: impossible without it."),
    "ssc": ("Skill-Specific Challenge", "1: trivial, or it does not exercise the subtask's skill; 3: exercises "
            "it at a routine level; 5: a demanding test of exactly that skill."),
}
BENCHMARK_METRIC = ("uia", "User-Intention Alignment", "1: the subtasks miss what the requirement asks; 3: they "
                    "cover part of it or drift; 5: together they test exactly what was asked.")
ATTRIBUTION = """Attribute each error to the single most relevant metric: schema problems to FSQ, a \
question-answer mismatch to QAC, an answer not supported by the context or media to CQC, an easy or \
shortcut-solvable item to TSD or SSC. Broken evidence lowers CQC and never raises SSC."""


class Error(BaseModel):
    metric: Literal["fsq", "qac", "cqc", "tsd", "ssc"]
    issue: str


class ItemJudgement(BaseModel):
    fsq: Score
    qac: Score
    cqc: Score
    tsd: Score
    ssc: Score
    errors: list[Error] = Field(default_factory=list, description="Each problem found, under one metric.")


class BenchmarkJudgement(BaseModel):
    uia: Score
    reason: str


SYSTEM = ("You judge the quality of a benchmark for language and multimodal models, as a strict reviewer. "
          "Score on the rubrics given, 1 to 5. Reply with JSON only.")


def _item_prompt(item: Item, subtask: Subtask | None) -> str:
    options = "\n".join(f"  {LETTERS[i]}. {c}" for i, c in enumerate(item.choices or []))
    rubrics = "\n".join(f"- {key} ({name}): {anchors}" for key, (name, anchors) in ITEM_METRICS.items())
    skill = f"{subtask.name}: {subtask.description}" if subtask else item.subtask
    return (f"Subtask: {skill}\n\nQuestion: {item.question}\n" + (f"Options:\n{options}\n" if options else "")
            + f"Labelled answer: {item.answer}\n\n{media_note(item)}\n\nRubrics:\n{rubrics}\n\n{ATTRIBUTION}")


def _benchmark_prompt(requirement: str, subtasks: Sequence[Subtask], examples: Sequence[Item]) -> str:
    listed = "\n".join(f"- {s.name}: {s.description}" for s in subtasks)
    shown = "\n".join(f"- [{i.subtask}] {i.question[:300]}" for i in examples)
    _, name, anchors = BENCHMARK_METRIC
    return (f"Requirement: {requirement}\n\nSubtasks:\n{listed}\n\nExample items:\n{shown}\n\n"
            f"Rubric, uia ({name}): {anchors}")


def stratified(items: Sequence[Item], n: int, seed: int) -> list[Item]:
    """`n` items drawn round-robin over subtasks (each subtask's order seeded), so every subtask is seen."""
    rng = random.Random(seed)
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.subtask, []).append(item)
    for group in groups.values():
        rng.shuffle(group)
    picked: list[Item] = []
    while len(picked) < min(n, len(items)):
        for group in groups.values():
            if group and len(picked) < n:
                picked.append(group.pop())
    return picked


def _normalised(scores: Sequence[float]) -> float | None:
    return round((statistics.fmean(scores) - 1) / 4 * 100, 1) if scores else None


def _capped(judged: ItemJudgement) -> tuple[ItemJudgement, list[str]]:
    """Broken evidence never raises the challenge score: with CQC at 2 or below, SSC is at most CQC."""
    if judged.cqc <= 2 and judged.ssc > judged.cqc:
        return judged.model_copy(update={"ssc": judged.cqc}), [f"ssc capped at cqc {judged.cqc}"]
    return judged, []


def judge(requirement: str, subtasks: Sequence[Subtask], items: Sequence[Item], client: LLMClient) -> dict:
    """One judge's scores: the benchmark's UIA and each sampled item's five metrics, raw and 0-100. A call
    whose answer stays malformed after the client's repairs is recorded under `unjudged`, never raised."""
    by_id = {s.id: s for s in subtasks}
    out: dict = {"items": {}, "unjudged": {}}
    calls = [("judge", "judge.benchmark", [("system", SYSTEM), ("user", _benchmark_prompt(requirement, subtasks,
                                                                                         items[:12]))],
              BenchmarkJudgement)]
    calls += [("judge", "judge.item", [("system", SYSTEM), ("user", _item_prompt(i, by_id.get(i.subtask)))],
               ItemJudgement) for i in items]
    answers = client.map_structured(calls)
    head, rest = answers[0], answers[1:]
    out["uia"] = None if isinstance(head, LLMError) else {"score": head.uia, "reason": head.reason}
    if isinstance(head, LLMError):
        out["unjudged"]["benchmark"] = str(head)
    for item, answer in zip(items, rest):
        if isinstance(answer, LLMError):
            out["unjudged"][item.id] = str(answer)
            continue
        judged, notes = _capped(answer)
        out["items"][item.id] = {**judged.model_dump(mode="json"), "subtask": item.subtask, "notes": notes}
    scored = out["items"].values()
    out["metrics"] = {"uia": _normalised([out["uia"]["score"]] if out["uia"] else []),
                      **{k: _normalised([s[k] for s in scored]) for k in ITEM_METRICS}}
    return out


def agreement(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per item metric, over the items every judge scored: the share all judges scored alike and the mean
    spread (largest minus smallest score)."""
    judges = list(results.values())
    common = set.intersection(*(set(r["items"]) for r in judges)) if judges else set()
    out = {}
    for metric in ITEM_METRICS:
        spreads = [max(s) - min(s) for s in ([r["items"][i][metric] for r in judges] for i in sorted(common))]
        out[metric] = {"items": len(spreads), "exact": round(sum(d == 0 for d in spreads) / len(spreads), 3)
                       if spreads else None, "mean_spread": round(statistics.fmean(spreads), 3) if spreads else None}
    return out


def judge_all(requirement: str, subtasks: Sequence[Subtask], items: Sequence[Item], models: Sequence[str],
              run_dir: Path, concurrency: int = 4) -> dict:
    """Every judge model on the same sample; the combined metrics are the judges' mean."""
    results = {}
    for model in models:
        with LLMClient({"judge": models_for(model, {})["judge"]}, run_dir, concurrency=concurrency) as client:
            results[model] = judge(requirement, subtasks, items, client)
    combined = {}
    for key in ("uia", *ITEM_METRICS):
        scores = [r["metrics"][key] for r in results.values() if r["metrics"][key] is not None]
        combined[key] = round(statistics.fmean(scores), 1) if scores else None
    return {"judges": results, "metrics": combined, "agreement": agreement(results) if len(models) > 1 else None,
            "sample": [i.id for i in items]}
