"""Allocation agent: propose quotas, diagnose why they are infeasible, adjust within the grounded
candidates, or send the design back upstream when the data cannot cover the requested size."""

from __future__ import annotations

from typing import Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.coverage import coverage
from agents.llm import LLMFactory, choose
from agents.resources import pool_path, store_for
from state.context import Context
from state.graph_state import BuildState, QuotaProgress
from state.models import Allocation, BenchmarkSpec, Grounding
from tools.plans import solver
from tools.run_store import SPEC


class Allocator(Protocol):
    def propose(self, total: int, subtasks: list[str], groundings: list[Grounding],
                fixed: dict[str, int] | None = None) -> Allocation: ...

    def diagnose(self, alloc: Allocation, groundings: list[Grounding]) -> list[str]: ...

    def adjust(self, alloc: Allocation, groundings: list[Grounding],
               fixed: dict[str, int] | None = None) -> Allocation: ...


class OfflineAllocator:
    """The deterministic solver in tools.plans.solver."""

    propose = staticmethod(solver.propose)
    diagnose = staticmethod(solver.diagnose)
    adjust = staticmethod(solver.adjust)


def _allocator(ctx: Context, get_llm: LLMFactory | None) -> Allocator:
    return choose(ctx, OfflineAllocator, None, get_llm)


def spec_of(state: BuildState, ctx: Context, requirement: str) -> BenchmarkSpec:
    """The grounded, allocated spec as the state holds it now."""
    return BenchmarkSpec(requirement=requirement, subtasks=state["subtasks"], groundings=state["groundings"],
                         allocation=state["allocation"], seed=ctx.seed, decider=ctx.llm, pool=str(pool_path(ctx)),
                         coverage=coverage(state["subtasks"], state.get("not_covered", {})))


def _counts(state: BuildState) -> dict[str, int]:
    """Subtask -> the item count its clause asks for ("20 clock items")."""
    return {s.id: s.count for s in state["subtasks"] if s.count}


def total_for(size: int, state: BuildState) -> int:
    """The benchmark's size: the counts the requirement fixes, plus --size's rest for the other subtasks
    (at least one item each); when every subtask has a count, their sum."""
    fixed = _counts(state)
    free = len(state["subtasks"]) - len(fixed)
    return max(size, sum(fixed.values()) + free * solver.MIN_PER_SUBTASK) if free else sum(fixed.values())


def make_allocate_node(get_llm: LLMFactory | None = None):
    def allocate(state: BuildState, runtime: Runtime[Context]) -> dict:
        ctx = runtime.context or Context()
        fixed = _counts(state)
        alloc = _allocator(ctx, get_llm).propose(total_for(ctx.size, state), [s.id for s in state["subtasks"]],
                                                 state["groundings"], fixed)
        return {"allocation": alloc, "adjust_rounds": 0,
                "events": [f"allocate: {[(q.grounding, q.target) for q in alloc.quotas]}"]}

    return allocate


def make_diagnose_node(get_llm: LLMFactory | None = None):
    def diagnose(state: BuildState, runtime: Runtime[Context]) -> Command[
        Literal["review", "adjust", "design", "assemble"]
    ]:
        ctx = runtime.context or Context()
        alloc, groundings = state["allocation"], state["groundings"]
        problems = _allocator(ctx, get_llm).diagnose(alloc, groundings)
        if not problems:
            store = store_for(state["run_dir"])
            store.write(SPEC, spec_of(state, ctx, store.requirement).model_dump(mode="json"))
            done = store.accepted_by_grounding()
            progress = {
                q.grounding: QuotaProgress(accepted=done.get(q.grounding, 0), drawn=0, rejected=0, exhausted=False)
                for q in alloc.quotas
            }
            return Command(goto="review", update={
                "progress": progress, "diagnosis": [], "events": ["diagnose: feasible"],
            })
        rounds = state.get("adjust_rounds", 0)
        # the numbers come from the solver, whoever proposed; a subtask without groundings counts too
        found = solver.examine(alloc, groundings, [s.id for s in state.get("subtasks", [])])
        if rounds < ctx.max_adjust_rounds and found.repairable:
            return Command(goto="adjust", update={"diagnosis": problems,
                                                  "events": [f"diagnose: infeasible, adjusting: {problems}"]})
        available = solver.capacity(groundings)
        why = _why_upstream(found, available, rounds, problems)
        # Design gets more subtasks for a data shortfall and swaps a subtask that cannot yield its
        # minimum; a balance problem left unrepaired (no rounds left) counts as a shortfall, as before
        shortfall = found.missing if not found.repairable else 1
        rejected = {s: f"subtask {s} can yield {found.yields[s]} items, fewer than the "
                       f"{solver.MIN_PER_SUBTASK} every subtask needs" for s in found.starved}
        update = {"diagnosis": problems, "shortfall": shortfall, "rejected_subtasks": rejected,
                  "design_feedback": [why, *found.binding],
                  "events": [f"diagnose: nothing admissible, back to design: {why}"]}
        if state.get("design_rounds", 0) >= ctx.max_design_rounds:
            message = f"allocation failed: {why}"
            return Command(goto="assemble", update={**update, "status": "refused", "message": message})
        return Command(goto="design", update=update)

    return diagnose


def _why_upstream(found: solver.Diagnosis, available: int, rounds: int, problems: list[str]) -> str:
    """Why the design goes back, with what the user can do about it."""
    if found.missing:
        return (f"the grounded datasets can yield about {available} items, {found.total} were asked; "
                f"ask for --size {available} or fewer, or add datasets")
    if found.total < found.min_size:
        return (f"every subtask needs at least {solver.MIN_PER_SUBTASK} item(s), {found.total} were asked; "
                f"ask for --size {found.min_size} or more, or for fewer subtasks")
    if found.starved:
        return "; ".join(f"subtask {s} can yield {found.yields[s]} items, it needs at least "
                         f"{solver.MIN_PER_SUBTASK}" for s in found.starved)
    return f"still infeasible after {rounds} adjustments: {problems}"


def make_adjust_node(get_llm: LLMFactory | None = None):
    def adjust(state: BuildState, runtime: Runtime[Context]) -> dict:
        ctx = runtime.context or Context()
        alloc = _allocator(ctx, get_llm).adjust(state["allocation"], state["groundings"], _counts(state))
        rounds = state.get("adjust_rounds", 0) + 1
        return {"allocation": alloc, "adjust_rounds": rounds,
                "events": [f"adjust: round {rounds}: {[(q.grounding, q.target) for q in alloc.quotas]}"]}

    return adjust
