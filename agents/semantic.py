"""The verifier's semantic layer: an LLM reads an item that passed every deterministic check and judges
what rules cannot: does it test the subtask's skill, is it answerable from its own context and media,
is it unambiguous, is the labelled answer right, does it leak its answer. A fault it can pin on one
step of the plan is sent back there with the reason; anything else is discarded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from state.models import Check, Item, Row, Subtask, Verdict
from tools.llm import LLMClient, LLMOutputError
from tools.pool import Pool
from tools.run_store import RunStore
from tools.text import LETTERS

if TYPE_CHECKING:  # the verifier module builds this layer on its rules
    from agents.verifier import Verifier

CRITERIA = {
    "tests_skill": "The item tests the subtask's skill, not something else.",
    "answerable": "It can be answered from its own question, context and media alone.",
    "unambiguous": "Exactly one option (or one answer) is right.",
    "answer_correct": "The labelled answer is that right one.",
    "no_leak": "Neither the question nor the options give the answer away.",
}


class SemanticJudgement(BaseModel):
    tests_skill: bool = Field(description=CRITERIA["tests_skill"])
    answerable: bool = Field(description=CRITERIA["answerable"])
    unambiguous: bool = Field(description=CRITERIA["unambiguous"])
    answer_correct: bool = Field(description=CRITERIA["answer_correct"])
    no_leak: bool = Field(description=CRITERIA["no_leak"])
    action: Literal["accept", "repair", "discard"] = Field(
        description="accept when all hold; repair when one step of the plan can fix it; else discard.")
    failed_step: str = Field("", description="For a repair: the plan step to redo, one of the steps listed.")
    reason: str = Field("", description="What is wrong and how the step should fix it; empty when accepted.")


SYSTEM = """You are the Verifier of a benchmark builder. You read one benchmark item that passed the \
structural checks and judge it against five criteria. Media you cannot see is given as what the builder \
knows of it (the script of rendered speech) or only counted; judge the item as a model that sees the \
media would meet it, and do not fail an item for what only its media can show. Be strict: a wrong, \
ambiguous or off-skill item is worse than none. Reply with JSON only."""


def media_note(item: Item) -> str:
    """What a reader who cannot see or hear the item's media is told of it."""
    notes = []
    turns = item.metadata.get("turns") or []
    if turns:
        said = "\n".join(f"  {t.get('speaker', '?')}: {t.get('text', '')}" for t in turns)
        notes.append(f"Audio transcript:\n{said}")
    elif item.audio:
        notes.append(f"{len(item.audio)} audio file(s), no transcript known")
    if item.image:
        notes.append(f"{len(item.image)} image(s), not shown to you")
    return "\n".join(notes) or "No media."


def _prompt(item: Item, subtask: Subtask | None) -> str:
    skill = f"{subtask.name}: {subtask.description}" if subtask else item.subtask
    options = "\n".join(f"  {LETTERS[i]}. {c}" for i, c in enumerate(item.choices or []))
    steps = ", ".join(s.tool for s in item.plan.steps)
    criteria = "\n".join(f"- {k}: {v}" for k, v in CRITERIA.items())
    return (f"Subtask: {skill}\n\nQuestion: {item.question}\n" + (f"Options:\n{options}\n" if options else "")
            + f"Labelled answer: {item.answer}" + (f" ({item.answer_text})" if item.choices else "")
            + f"\n\n{media_note(item)}\n\nPlan steps that built it: {steps}\n\nCriteria:\n{criteria}")


class LLMVerifier:
    """The deterministic layer first (it is cheap and exact); the model only judges what passed it."""

    def __init__(self, client: LLMClient, rules: Verifier, subtasks: dict[str, Subtask]) -> None:
        self.client, self.rules, self.subtasks = client, rules, subtasks

    def verify(self, item: Item, row: Row, store: RunStore, pool: Pool) -> Verdict:
        verdict = self.rules.verify(item, row, store, pool)
        if verdict.action != "accept":
            return verdict
        try:
            judged = self.client.structured("verifier", "verifier.item", [
                ("system", SYSTEM), ("user", _prompt(item, self.subtasks.get(item.subtask)))], SemanticJudgement)
        except LLMOutputError as exc:  # unjudged, not wrong: the deterministic verdict stands, and says so
            item.metadata["semantic_check"] = f"unavailable: {exc}"
            return verdict
        checks = [Check(name=f"semantic_{name}", passed=getattr(judged, name), detail=judged.reason)
                  for name in CRITERIA]
        item.metadata["semantic_check"] = json.loads(judged.model_dump_json())
        failed = [c.name for c in checks if not c.passed]
        if not failed and judged.action == "accept":
            return Verdict(action="accept", checks=verdict.checks + checks)
        reason = f"semantic check: {judged.reason or judged.action}" + (f" ({', '.join(failed)} failed)" if failed
                                                                         else "")
        steps = {s.tool for s in item.plan.steps}
        if judged.action == "repair" and judged.failed_step in steps:
            return Verdict(action="repair", checks=verdict.checks + checks, reason=reason,
                           repair={judged.failed_step: judged.reason or reason})
        return Verdict(action="discard", checks=verdict.checks + checks, reason=reason)
