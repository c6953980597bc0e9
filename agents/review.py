"""Human review of the plan: with `review` on, the graph pauses after planning (LangGraph interrupt)
showing the spec; the answer approves it, edits subtasks or quotas, or rejects it with a comment
that goes back to Design. Answered from the CLI (`benchagent resume DIR --approve|--edit|--reject`),
from Python (`graph.invoke(Command(resume=answer), config)`) or through `langgraph dev`."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, Field, ValidationError

from agents.allocation import spec_of
from agents.resources import store_for
from state.context import Context
from state.graph_state import BuildState, QuotaProgress
from state.models import Allocation, Subtask
from tools.plans import solver
from tools.run_store import SPEC


class SubtaskEdit(BaseModel):
    id: str = Field(description="The subtask to change; a subtask left out of an edit is removed.")
    name: str | None = None
    description: str | None = None


class ReviewAnswer(BaseModel):
    """What a reviewer sends back."""

    action: Literal["approve", "edit", "reject"]
    subtasks: list[SubtaskEdit] | None = Field(None, description="edit: the subtasks to keep, renamed or not.")
    quotas: dict[str, int] | None = Field(None, description="edit: items per grounding (subtask@dataset).")
    comment: str = Field("", description="reject: why, for Design's next round.")


def review_request(state: BuildState) -> dict[str, Any]:
    """What the interrupt shows: the spec in brief, and the shape of an answer."""
    return {
        "subtasks": [{"id": s.id, "name": s.name, "description": s.description, "recipe": s.recipe}
                     for s in state["subtasks"]],
        "quotas": {q.grounding: q.target for q in state["allocation"].quotas},
        "answer": {"action": "approve | edit | reject", "subtasks": "edit: [{id, name?, description?}]",
                   "quotas": "edit: {grounding: items}", "comment": "reject: why"},
    }


def _edited(state: BuildState, answer: ReviewAnswer) -> tuple[list[Subtask], Allocation, list[str]]:
    subtasks = {s.id: s for s in state["subtasks"]}
    if answer.subtasks is not None:
        unknown = [e.id for e in answer.subtasks if e.id not in subtasks]
        if unknown:
            return [], state["allocation"], [f"unknown subtasks {unknown}; known: {sorted(subtasks)}"]
        subtasks = {e.id: subtasks[e.id].model_copy(update=e.model_dump(exclude={"id"}, exclude_none=True))
                    for e in answer.subtasks}
    groundings = [g for g in state["groundings"] if g.subtask in subtasks]
    old = {q.grounding: q for q in state["allocation"].quotas if q.subtask in subtasks}
    targets = answer.quotas if answer.quotas is not None else {k: q.target for k, q in old.items()}
    unknown = sorted(set(targets) - set(old))
    if unknown:
        return [], state["allocation"], [f"unknown groundings {unknown}; known: {sorted(old)}"]
    quotas = [q.model_copy(update={"target": targets.get(k, 0)}) for k, q in old.items()]
    alloc = Allocation(total=sum(q.target for q in quotas), quotas=quotas)
    return list(subtasks.values()), alloc, solver.diagnose(alloc, groundings)


def review(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["orchestrator", "design", "review"]]:
    ctx = runtime.context or Context()
    if not ctx.review:
        return Command(goto="orchestrator")
    raw = interrupt(review_request(state))
    try:
        answer = ReviewAnswer.model_validate(raw)
    except ValidationError as exc:
        return Command(goto="review", update={"events": [f"review: answer refused: {exc.errors()[0]['msg']}"]})
    if answer.action == "approve":
        return Command(goto="orchestrator", update={"events": ["review: approved"]})
    if answer.action == "reject":
        why = f"the reviewer rejected the plan: {answer.comment or 'no reason given'}"
        return Command(goto="design", update={
            "design_feedback": [why], "rejected_subtasks": {s.id: why for s in state["subtasks"]},
            "shortfall": 0, "events": [f"review: rejected: {answer.comment}"]})
    subtasks, alloc, problems = _edited(state, answer)
    if problems:
        return Command(goto="review", update={"events": [f"review: edit refused: {'; '.join(problems)}"]})
    store = store_for(state["run_dir"])
    edited = {**state, "subtasks": subtasks, "allocation": alloc,
              "groundings": [g for g in state["groundings"] if g.subtask in {s.id for s in subtasks}]}
    store.write(SPEC, spec_of(edited, ctx, store.requirement).model_dump(mode="json"))
    progress = {q.grounding: state["progress"].get(q.grounding) or QuotaProgress(
        accepted=0, drawn=0, rejected=0, exhausted=False) for q in alloc.quotas}
    return Command(goto="orchestrator", update={
        "subtasks": subtasks, "allocation": alloc, "groundings": edited["groundings"], "progress": progress,
        "events": [f"review: edited to {[(q.grounding, q.target) for q in alloc.quotas]}"]})
