"""Grounding agent: for each subtask, find pool datasets a recipe can turn into items, score the
plans, keep those that pass; reject the design back to Design when a subtask has none."""

from __future__ import annotations

from typing import Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.llm import LLMFactory, choose
from agents.resources import pool_for
from state.context import Context
from state.graph_state import BuildState
from state.models import Grounding, PlanScores, Subtask
from tools.plans.recipes import RECIPES, usable_rows
from tools.plans.steps import STEPS
from tools.pool import Pool

EXPECTED_YIELD = 0.9  # share of drawn rows expected to pass verification; the verifier measures it
KEEP_PER_SUBTASK = 2


class Grounder(Protocol):
    def ground(self, subtask: Subtask, pool: Pool, threshold: float) -> tuple[list[Grounding], str]: ...


def _with_settings(steps, settings):
    """Apply requirement-level settings to the steps whose tool takes them."""
    out = []
    for step in steps:
        fields = STEPS[step.tool].params.model_fields
        extra = {k: v for k, v in settings.items() if k in fields}
        out.append(step.model_copy(update={"params": {**step.params, **extra}}))
    return out


class OfflineGrounder:
    """Preference from the recipe (modality, roles, answer kind); lexical card search for
    alignment; transformability from the recipe's fit; scores from the card and usable rows."""

    def ground(self, subtask: Subtask, pool: Pool, threshold: float) -> tuple[list[Grounding], str]:
        recipe = RECIPES[subtask.recipe]
        ranked = dict((c.id, s) for c, s in pool.search(" ".join(subtask.keywords), modality=recipe.media))
        top = max(ranked.values(), default=0.0)
        kept: list[Grounding] = []
        reasons: list[str] = []
        misfits: list[str] = []
        for card in pool.cards():
            misfit = recipe.misfit(card)
            if misfit:
                misfits.append(misfit)
                continue
            rows = usable_rows(pool, card.id, recipe.id)
            scores = PlanScores(
                # relative to the best-matching card; when no card shares a word, fit alone decides
                alignment=round(ranked.get(card.id, 0.0) / top if top else 1.0, 3),
                robustness=round(len(rows) / max(card.n_rows, 1), 3),
                preservation=round(recipe.preservation(card), 3),
            )
            if not rows or not scores.passes(threshold):
                reasons.append(f"{card.id} scored {scores.model_dump()} with {len(rows)} usable rows")
                continue
            plan = recipe.plan(card)
            plan.steps = _with_settings(plan.steps, subtask.settings)
            kept.append(Grounding(subtask=subtask.id, plan=plan, scores=scores, capacity=len(rows),
                                  expected_yield=EXPECTED_YIELD))
        kept.sort(key=lambda g: (-g.scores.alignment, -g.scores.preservation, -g.capacity, g.plan.dataset))
        if kept:
            return kept[:KEEP_PER_SUBTASK], ""
        if reasons:
            return [], f"subtask {subtask.id}: no plan passed scoring: " + "; ".join(reasons)
        return [], f"subtask {subtask.id}: no dataset fits recipe {recipe.id}: " + "; ".join(misfits[:4])


def make_grounding_node(get_llm: LLMFactory | None = None):
    def grounding(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["allocate", "design", "assemble"]]:
        ctx = runtime.context or Context()
        grounder: Grounder = choose(ctx, OfflineGrounder, None, get_llm, "grounding")
        pool = pool_for(ctx)
        groundings: list[Grounding] = []
        rejected: dict[str, str] = {}
        for sub in state["subtasks"]:
            found, why = grounder.ground(sub, pool, ctx.score_threshold)
            groundings.extend(found)
            if not found:
                rejected[sub.id] = why
        if not rejected:
            return Command(goto="allocate", update={
                "groundings": groundings, "rejected_subtasks": {}, "shortfall": 0,
                "events": [f"grounding: accepted {[g.key for g in groundings]}"],
            })
        update = {
            "groundings": groundings,
            "rejected_subtasks": rejected,
            "shortfall": 0,
            "design_feedback": list(rejected.values()),
            "events": [f"grounding: rejected {sorted(rejected)}"],
        }
        if state.get("design_rounds", 0) >= ctx.max_design_rounds:
            history = list(dict.fromkeys([*state.get("design_feedback", []), *rejected.values()]))
            message = (f"grounding failed after {ctx.max_design_rounds} design rounds: "
                       + " | ".join(history) + ". Add datasets that fit, or rephrase.")
            return Command(goto="assemble", update={**update, "status": "refused", "message": message})
        return Command(goto="design", update=update)

    return grounding
