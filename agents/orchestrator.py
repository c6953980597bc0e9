"""Orchestrator: picks the quota that is furthest behind, draws its next raw sample and specialises
the dataset-level plan to that sample; moves a shortfall to a sibling dataset when data runs out."""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.llm import LLMFactory, choose
from agents.resources import pool_for, store_for
from state.context import Context
from state.graph_state import BuildState, QuotaProgress, Work
from state.models import Allocation, Grounding, Row
from tools.plans.recipes import sample_row, usable_rows
from tools.pool import Pool


class Orchestrator(Protocol):
    def specialise(self, grounding: Grounding, row: Row, seed: int) -> dict[str, dict[str, Any]]: ...


class OfflineOrchestrator:
    """Per-sample choices by seeded rules: which degradation an image gets when the subtask names none."""

    def specialise(self, grounding: Grounding, row: Row, seed: int) -> dict[str, dict[str, Any]]:
        from tools.pure.images import PERTURBATIONS

        overrides: dict[str, dict[str, Any]] = {}
        if any(s.tool == "perturb_image" and not s.params.get("ops") for s in grounding.plan.steps):
            rng = random.Random(f"{seed}:{grounding.key}:{row.sample_id}:perturb")
            op = rng.choice(sorted(PERTURBATIONS))
            overrides["perturb_image"] = {"ops": [{"op": op, "params": dict(PERTURBATIONS[op])}]}
        return overrides


@lru_cache(maxsize=64)
def _candidates(pool: Pool, dataset: str, recipe: str, key: str, seed: int) -> tuple[str, ...]:
    """The grounding's usable rows in a seeded order, the same on every resume."""
    ids = usable_rows(pool, dataset, recipe)
    random.Random(f"{seed}:{key}").shuffle(ids)
    return tuple(ids)


def _transfer_shortfall(alloc: Allocation, progress: dict[str, QuotaProgress]) -> tuple[Allocation, str] | None:
    """Give the unmet part of an exhausted quota to a sibling quota (same subtask) that has data left."""
    for q in alloc.quotas:
        missing = q.target - progress[q.grounding]["accepted"]
        if missing <= 0 or not progress[q.grounding]["exhausted"]:
            continue
        sibling = next((s for s in alloc.quotas if s.subtask == q.subtask and s is not q
                        and not progress[s.grounding]["exhausted"]), None)
        if sibling is None:
            continue
        shift = {q.grounding: -missing, sibling.grounding: missing}
        quotas = [x.model_copy(update={"target": x.target + shift.get(x.grounding, 0)}) for x in alloc.quotas]
        note = f"moved {missing} from {q.grounding} to {sibling.grounding}"
        return Allocation(total=alloc.total, quotas=quotas), note
    return None


def make_orchestrator_node(get_llm: LLMFactory | None = None):
    def orchestrator(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["executor", "assemble"]]:
        ctx = runtime.context or Context()
        pool, store = pool_for(ctx), store_for(state["run_dir"])
        alloc = state["allocation"]
        progress = {k: QuotaProgress(**v) for k, v in state["progress"].items()}
        groundings = {g.key: g for g in state["groundings"]}
        events: list[str] = []
        used = store.used_sources()
        while True:
            pending = [q for q in alloc.quotas
                       if progress[q.grounding]["accepted"] < q.target and not progress[q.grounding]["exhausted"]]
            if not pending:
                moved = _transfer_shortfall(alloc, progress)
                if moved is None:
                    return Command(goto="assemble", update={"progress": progress, "allocation": alloc,
                                                            "work": None, "events": events})
                alloc, note = moved
                events.append(f"orchestrator: {note}")
                continue
            quota = min(pending, key=lambda q: (progress[q.grounding]["accepted"] / max(q.target, 1), q.grounding))
            g = groundings[quota.grounding]
            prog = progress[quota.grounding]
            cands = _candidates(pool, g.plan.dataset, g.plan.recipe, g.key, ctx.seed)
            budget = math.ceil(ctx.attempts_per_item * quota.target)
            while prog["drawn"] < len(cands) and (g.plan.dataset, cands[prog["drawn"]]) in used:
                prog["drawn"] += 1  # already made into an item (by this or another subtask)
            if prog["drawn"] >= len(cands) or prog["accepted"] + prog["rejected"] >= budget:
                prog["exhausted"] = True
                events.append(f"orchestrator: {g.key} exhausted after {prog['drawn']} draws")
                continue
            sample_id = cands[prog["drawn"]]
            prog["drawn"] += 1
            decider: Orchestrator = choose(ctx, OfflineOrchestrator, None, get_llm)
            overrides = decider.specialise(g, sample_row(pool, g.plan.dataset, sample_id)[0], ctx.seed)
            work = Work(grounding=g.key, sample_id=sample_id, repairs=0, overrides=overrides)
            update = {"progress": progress, "work": work, "events": events}
            if alloc is not state["allocation"]:  # only a shortfall transfer changes it
                update["allocation"] = alloc
            return Command(goto="executor", update=update)

    return orchestrator
