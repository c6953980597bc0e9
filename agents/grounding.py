"""Grounding agent: for each subtask, find pool datasets a recipe can turn into items, score the
plans, keep those that pass; reject the design back to Design when a subtask has none."""

from __future__ import annotations

from typing import Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from agents.coverage import nothing_served
from agents.llm import LLMFactory, choose, raise_stops, stop_for, uses_llm
from agents.requirement_terms import alignment_query
from agents.resources import pool_for
from state.context import Context
from state.graph_state import BuildState
from state.models import DatasetCard, Grounding, Modality, PlanScores, Subtask
from tools.llm import LLMClient, LLMError
from tools.plans.catalogue import card_digest
from tools.plans.recipes import RECIPES, usable_rows
from tools.plans.steps import STEPS
from tools.pool import Pool

EXPECTED_YIELD = 0.9  # share of drawn rows expected to pass verification; the verifier measures it
KEEP_PER_SUBTASK = 2


class Grounder(Protocol):
    def ground(self, subtasks: list[Subtask], pool: Pool, threshold: float) -> dict[str, tuple[list[Grounding], str]]:
        """Per subtask id: the groundings kept, or an empty list and why none was."""


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
    alignment; transformability from the recipe's fit; scores from the card and usable rows. A recipe
    that writes with an LLM is grounded only when the executor has a model (`writer`)."""

    def __init__(self, writer: bool = False) -> None:
        self.writer = writer

    def ground(self, subtasks: list[Subtask], pool: Pool, threshold: float) -> dict[str, tuple[list[Grounding], str]]:
        return {sub.id: self._ground(sub, pool, threshold) for sub in subtasks}

    def _ground(self, subtask: Subtask, pool: Pool, threshold: float) -> tuple[list[Grounding], str]:
        recipe = RECIPES[subtask.recipe]
        if recipe.needs_llm and not self.writer:
            return [], f"subtask {subtask.id}: recipe {recipe.id} needs an LLM writer; run with --llm MODEL"
        query = (alignment_query(subtask.clause, recipe.keywords if recipe.skill_in_steps else ())
                 if subtask.clause else " ".join(subtask.keywords))
        asked = subtask.clause or query
        ranked = relevance(pool, query, recipe.media)
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
                # absolute: how much of what the clause asks for the card says (a clause that names only
                # how items are rendered, "noisy speech", asks nothing of the data: fit alone decides)
                alignment=round(ranked.get(card.id, 0.0) if query else 1.0, 3),
                robustness=round(min(1.0, len(rows) / max(card.n_rows, 1)), 3),  # variants: rows > n_rows
                preservation=round(recipe.preservation(card), 3),
            )
            if not rows or not scores.passes(threshold):
                reasons.append(_failed(card.id, scores, threshold, len(rows)))
                continue
            kept.append(_grounding(subtask, recipe.id, card, scores, len(rows)))
        if kept:
            return _best(kept), ""
        best = max(ranked.items(), key=lambda kv: kv[1], default=None)
        if query and (best is None or best[1] < threshold):
            near = f"; the closest card is {best[0]} at {best[1]:.2f}" if best else "; no card matches it at all"
            return [], (f"no dataset in the pool is about {asked!r} (alignment floor {threshold}{near}), "
                        f"with recipe {recipe.id}")
        if reasons:
            return [], f"subtask {subtask.id}: no plan passed scoring: " + "; ".join(reasons)
        return [], f"subtask {subtask.id}: no dataset fits recipe {recipe.id}: " + "; ".join(misfits[:4])


def relevance(pool: Pool, query: str, modality: str | None) -> dict[str, float]:
    """Card id -> how well the card matches the query, absolute in [0, 1]: the hybrid score (BM25 share of
    the query plus rescaled E5 cosine, tools.pool.search), or the BM25 share of the query alone when the
    embedding model is unavailable. Measured on general-bench-mini: on-topic queries score 0.56-1.0,
    off-topic ones at most 0.41 (scripts/bench_search.py), so the plan threshold (0.5) is the floor."""
    if not query:
        return {}
    hits = pool.search_hits(query, modality=modality, k=len(pool.cards()))
    if all(h.mode == "hybrid" for h in hits):
        return {h.card.id: h.score for h in hits}
    ideal = pool.search_index.ideal(query)  # BM25 alone: its share of the query
    return {h.card.id: min(h.bm25 / ideal, 1.0) if ideal else 0.0 for h in hits}


def _failed(card_id: str, scores: PlanScores, threshold: float, rows: int) -> str:
    if not rows:
        return f"{card_id} has no row the recipe can use"
    low = [f"{k} {getattr(scores, k):.2f}" for k in SCORED if getattr(scores, k) < threshold]
    return f"{card_id} scored {', '.join(low)} below {threshold}"


def _grounding(subtask: Subtask, recipe_id: str, card: DatasetCard, scores: PlanScores, capacity: int) -> Grounding:
    plan = RECIPES[recipe_id].plan(card)
    plan.steps = _with_settings(plan.steps, subtask.settings)
    return Grounding(subtask=subtask.id, plan=plan, scores=scores, capacity=capacity, expected_yield=EXPECTED_YIELD)


def _best(kept: list[Grounding]) -> list[Grounding]:
    kept.sort(key=lambda g: (-g.scores.alignment, -g.scores.preservation, -g.capacity, g.plan.dataset))
    return kept[:KEEP_PER_SUBTASK]


GROUNDING_SYSTEM = """You are the Grounding agent of a benchmark builder. For a subtask (one evaluation \
dimension) you say what data it needs and judge whether a dataset, transformed by a plan, yields items \
that test it. Be strict: a dataset about another skill or domain is not aligned however clean it is. \
Answer with JSON only."""

PREFERENCE_PROMPT = """Subtask: {name}: {description}
It is realised with recipe {recipe} ({modality}).

State the data it needs: the modality of an item's inputs, the annotation structure each row must hold, \
the domain, and the words to search dataset cards with."""

SCORE_PROMPT = """Subtask: {name}: {description}
Data it needs: {preference}

Dataset:
{card}

Plans that can turn this dataset into items:
{plans}

Judge each plan, 1 to 5, with a one-sentence reason for each score:
- alignment: do this dataset's rows exercise the subtask's skill? (1 unrelated, 3 partly, 5 exactly)
- robustness: will the plan turn most rows into valid items? (1 rarely, 3 often, 5 always)
- preservation: after the plan, does an item still test the skill, answerable only with its inputs? \
(1 signal lost, 3 weakened, 5 intact)"""


class DataPreference(BaseModel):
    modality: Modality
    annotation: str = Field(description="What each row must hold, e.g. 'an image and its class label'.")
    domain: str
    query: str = Field(description="Words to search dataset cards with.")


class Score(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str


class PlanJudgement(BaseModel):
    recipe: str = Field(description="The plan's recipe id, as listed.")
    alignment: Score
    robustness: Score
    preservation: Score


class CardJudgement(BaseModel):
    plans: list[PlanJudgement]


class LLMGrounder:
    """Preference, then search (the pool's hybrid card search), transformability (the recipes that fit
    each candidate card, as plans of registered steps) and score-and-filter by the LLM. Every
    (subtask, card) judgement is an independent call, made concurrently."""

    CANDIDATES = 4

    def __init__(self, client: LLMClient) -> None:
        self.client = client

    def ground(self, subtasks: list[Subtask], pool: Pool, threshold: float) -> dict[str, tuple[list[Grounding], str]]:
        asked = [("planner", "grounding.preference", _messages(PREFERENCE_PROMPT.format(
            name=s.name, description=s.description, recipe=s.recipe, modality=s.modality)), DataPreference)
            for s in subtasks]
        preferences = self.client.map_structured(asked)
        raise_stops(preferences)
        pairs, outcome = [], {}
        for sub, pref in zip(subtasks, preferences):
            query = " ".join(sub.keywords) if isinstance(pref, LLMError) else f"{pref.query} {' '.join(sub.keywords)}"
            described = "unknown" if isinstance(pref, LLMError) else f"{pref.annotation}; domain {pref.domain}"
            cards = [(c, fits) for c, _ in pool.search(query, modality=RECIPES[sub.recipe].media)
                     if (fits := _fitting(sub, c))][: self.CANDIDATES]
            if not cards:
                outcome[sub.id] = ([], f"subtask {sub.id}: no dataset fits a {sub.modality} recipe for it")
            pairs += [(sub, card, fits, described) for card, fits in cards]
        judged = self.client.map_structured([
            ("planner", "grounding.score", _messages(SCORE_PROMPT.format(
                name=sub.name, description=sub.description, preference=described, card=card_digest(card),
                plans="\n".join(f"- {r}: {RECIPES[r].description}" for r in fits))), CardJudgement)
            for sub, card, fits, described in pairs])
        raise_stops(judged)
        kept: dict[str, list[Grounding]] = {s.id: [] for s in subtasks}
        reasons: dict[str, list[str]] = {s.id: [] for s in subtasks}
        for (sub, card, fits, _), judgement in zip(pairs, judged):
            if isinstance(judgement, LLMError):
                reasons[sub.id].append(f"{card.id}: the judgement failed ({judgement.kind})")
                continue
            listed = [p for p in judgement.plans if p.recipe in fits]
            if not listed:
                reasons[sub.id].append(f"{card.id}: the judgement scored none of the listed plans ({', '.join(fits)})")
            passing = []
            for plan in listed:
                scores = PlanScores(**{k: (getattr(plan, k).score - 1) / 4 for k in SCORED},
                                    reasons={k: getattr(plan, k).reason for k in SCORED})
                rows = usable_rows(pool, card.id, plan.recipe)
                if rows and scores.passes(threshold):
                    passing.append(_grounding(sub, plan.recipe, card, scores, len(rows)))
                else:
                    reasons[sub.id].append(f"{card.id} with {plan.recipe} scored "
                                           + ", ".join(f"{k} {getattr(plan, k).score}/5 ({getattr(plan, k).reason})"
                                                       for k in SCORED) + f", {len(rows)} usable rows")
            if passing:  # one plan per (subtask, dataset): that pair is the grounding's key
                kept[sub.id].append(max(passing, key=lambda g: (min(g.scores.alignment, g.scores.robustness,
                                                                    g.scores.preservation), g.scores.alignment)))
        for sub in subtasks:
            if sub.id not in outcome:
                outcome[sub.id] = ((_best(kept[sub.id]), "") if kept[sub.id] else
                                   ([], f"subtask {sub.id}: no plan passed scoring: " + "; ".join(reasons[sub.id])))
        return outcome


SCORED = ("alignment", "robustness", "preservation")


def _messages(prompt: str) -> list[tuple[str, str]]:
    return [("system", GROUNDING_SYSTEM), ("user", prompt)]


def _fitting(subtask: Subtask, card: DatasetCard) -> list[str]:
    """Recipes of the subtask's modality that can use the card, its own recipe first."""
    ordered = [subtask.recipe, *(r for r in RECIPES if r != subtask.recipe)]
    return [r for r in ordered if RECIPES[r].modality == subtask.modality and RECIPES[r].misfit(card) is None]


def make_grounding_node(get_llm: LLMFactory | None = None):
    def grounding(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["allocate", "design", "assemble"]]:
        ctx = runtime.context or Context()
        grounder: Grounder = choose(ctx, lambda: OfflineGrounder(writer=uses_llm(ctx, "orchestrator")), LLMGrounder,
                                    get_llm, state["run_dir"])
        pool = pool_for(ctx)
        groundings: list[Grounding] = []
        rejected: dict[str, str] = {}
        try:
            outcome = grounder.ground(state["subtasks"], pool, ctx.score_threshold)
        except LLMError as exc:
            return Command(goto="assemble", update={**stop_for(exc), "events": [f"grounding: {exc}"]})
        for sub_id, (found, why) in outcome.items():
            groundings.extend(found)
            if not found:
                rejected[sub_id] = why
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
        subtasks = state["subtasks"]
        # A clause's best recipe says most about why it cannot be served; later fallbacks less.
        first = {**{s.clause or s.name: rejected[s.id] for s in subtasks if s.id in rejected},
                 **state.get("first_rejections", {})}
        update["first_rejections"] = first
        revisable = uses_llm(ctx, "planner") or any(s.alternatives for s in subtasks if s.id in rejected)
        if revisable and state.get("design_rounds", 0) < ctx.max_design_rounds:
            return Command(goto="design", update=update)
        # No revision left: build what is grounded and report the rest, never fill it with other data.
        served = [s for s in subtasks if s.id not in rejected]
        not_covered = {**state.get("not_covered", {}), **{s.clause or s.name: first[s.clause or s.name]
                                                          for s in subtasks if s.id in rejected}}
        update.update(not_covered=not_covered, rejected_subtasks={}, subtasks=served)
        if not served:
            return Command(goto="assemble", update={**update, "status": "refused",
                                                    "message": nothing_served(not_covered, pool, ctx.llm)})
        update["events"] = [f"grounding: kept {[g.key for g in groundings]}; not served: {sorted(rejected)}"]
        return Command(goto="allocate", update=update)

    return grounding
