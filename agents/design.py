"""Design agent: turns the requirement into subtasks (propose), and revises or discards them when
grounding rejects them or allocation runs out of data."""

from __future__ import annotations

from typing import Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field, ValidationError

from agents.coverage import nothing_served
from agents.llm import LLMFactory, choose, stop_for, uses_llm
from agents.requirement_terms import (
    alignment_query,
    audio_noise,
    clauses,
    forbids_images,
    image_degradations,
    keyword_match,
    modality_cues,
    requested_count,
    unsupported,
    written_settings,
)
from agents.resources import pool_for, store_for
from state.context import Context
from state.graph_state import BuildState
from state.models import DatasetCard, Subtask
from tools.llm import LLMClient, LLMError
from tools.plans.catalogue import card_digest, recipe_catalogue
from tools.plans.recipes import RECIPES, Recipe
from tools.plans.steps import STEPS
from tools.run_store import safe_name
from tools.text import content_words


class Designer(Protocol):
    def propose(self, requirement: str) -> list[Subtask]: ...

    def revise(self, subtasks: list[Subtask], rejected: dict[str, str], shortfall: int) -> list[Subtask]: ...


def _hits(words: list[str], recipe: Recipe) -> int:
    return sum(any(keyword_match(w, k) for k in recipe.keywords) for w in words)


def _honours(recipe: Recipe, settings: dict[str, object]) -> bool:
    """Whether the recipe's steps take every setting, with these values (a step for synthetic noise
    cannot honour "recorded" noise)."""
    card = DatasetCard(id="-", name="-", path="-", layout="folder", data_file="-",
                       answer_kind=(recipe.answer_kinds or ("none",))[0])
    taken: set[str] = set()
    for step in recipe.steps(card):
        params = STEPS[step.tool].params
        mine = {k: v for k, v in settings.items() if k in params.model_fields}
        try:
            params.model_validate({**step.params, **mine})
        except ValidationError:
            return False
        taken |= set(mine)
    return taken == set(settings)


def _settings(recipe: Recipe, clause: str) -> dict[str, object]:
    """What the clause fixes for items of this recipe's modality."""
    if recipe.modality == "image" or recipe.media == "image":
        ops = image_degradations(clause)
        return {"ops": ops} if ops else {}
    found = audio_noise(clause) if recipe.modality == "audio" else {}
    if recipe.needs_llm:  # languages, web background: only those its steps take
        found |= {k: v for k, v in written_settings(clause).items() if _honours(recipe, {k: v})}
    return found


def _needs_writer(words: list[str], cues: set[str], offline: list[Recipe]) -> Recipe | None:
    """The LLM-writing recipe a clause asks for, when it names what only such a recipe does (keywords no
    offline recipe has: "faulty", "unreliable"), twice over or with no offline recipe matching it better."""
    plain = {k for r in offline for k in r.keywords}
    best = max((_hits(words, r) for r in offline), default=0)

    def own(r: Recipe) -> int:
        return sum(any(keyword_match(w, k) for k in r.keywords if k not in plain) for w in words)

    asked = [r for r in RECIPES.values() if r.needs_llm and (not cues or r.modality in cues)
             and own(r) and (own(r) >= 2 or _hits(words, r) >= best)]
    return max(asked, key=lambda r: (own(r), _hits(words, r)), default=None)


class OfflineDesigner:
    """Rules over the recipe library: each clause of the requirement is one evaluation dimension, a
    subtask of its own, realised by the recipe whose keywords it hits most among recipes of the
    modality the clause names and that can apply what the clause fixes (a degradation, a noise).
    Two clauses may share a recipe and stay two subtasks. A clause no recipe serves is reported in
    `not_covered`, with why. Recipes whose steps write with an LLM compete only when the executor has
    a model to write with (`writer`)."""

    def __init__(self, writer: bool = False) -> None:
        self.not_covered: dict[str, str] = {}
        self.writer = writer

    def propose(self, requirement: str) -> list[Subtask]:
        subtasks: list[Subtask] = []
        taken: set[str] = set()
        no_images = forbids_images(requirement)
        for clause in clauses(requirement):
            why = unsupported(clause)
            if why:
                self.not_covered[clause] = why
                continue
            words = content_words(clause)
            cues = modality_cues(words)
            # A clause naming a modality keeps to its recipes; otherwise every recipe competes on
            # keywords, text first on a tie.
            allowed = [r for r in RECIPES.values() if (not cues or r.modality in cues)
                       and not (no_images and "image" in r.carries)]
            writer = _needs_writer(words, cues, [r for r in allowed if not r.needs_llm])
            if writer is not None and not self.writer:
                self.not_covered[clause] = (f"it asks for {writer.title.lower()}, which needs an LLM writer "
                                            f"(recipe {writer.id}); run with --llm MODEL")
                continue
            allowed = [r for r in allowed if self.writer or not r.needs_llm]
            # What only a writer does comes first when there is one; then keyword hits, text first on a tie.
            ranked = [r for r in sorted(allowed, key=lambda r: (r is not writer, -_hits(words, r),
                                                                r.modality != "text")) if _hits(words, r)]
            able = [r for r in ranked if _honours(r, _settings(r, clause))]
            if not able:
                self.not_covered[clause] = _why_not(clause, ranked, no_images)
                continue
            # Recipes the clause also hits come next; other able recipes of the modality are a last resort.
            best = able[0]
            rest = able[1:] + [r for r in allowed if r not in able and r.modality == best.modality
                               and _honours(r, _settings(r, clause))]
            sid = _dimension_id(best.id, clause, taken)
            subtasks.append(Subtask(
                id=sid,
                **_realised_by(best, sid, clause),
                keywords=content_words(alignment_query(clause)) or words,
                clause=clause,
                alternatives=[r.id for r in rest],
                settings=_settings(best, clause),
                count=requested_count(clause),
            ))
        return subtasks

    def revise(self, subtasks: list[Subtask], rejected: dict[str, str], shortfall: int) -> list[Subtask]:
        """Move each rejected subtask to its next recipe, still its own subtask; drop it when no
        recipe is left. On a data shortfall, add the next recipe no subtask uses yet as an extra
        subtask."""
        kept = [s for s in subtasks if s.id not in rejected]
        taken = {s.id for s in kept}
        kept += [_switch(s, s.alternatives[0], taken) for s in subtasks if s.id in rejected and s.alternatives]
        if shortfall > 0:
            used = {s.recipe for s in kept}
            for sub in list(kept):
                extra = next((r for r in sub.alternatives if r not in used), None)
                if extra is not None:
                    kept.append(_switch(sub, extra, taken))
                    break
        return kept


def _why_not(clause: str, ranked: list[Recipe], no_images: bool) -> str:
    if ranked:
        asked = ", ".join(sorted({*(d["op"] for d in image_degradations(clause)), *audio_noise(clause)}))
        return (f"it asks for {asked}, which no recipe that tests it ({', '.join(r.id for r in ranked)}) "
                "can apply")
    return "no offline recipe tests this" + (" without images" if no_images else "")


def _dimension_id(recipe_id: str, clause: str, taken: set[str]) -> str:
    """The recipe's id for the first subtask realised by it; a later one adds its clause's words."""
    if recipe_id not in taken:
        taken.add(recipe_id)
        return recipe_id
    return _unique(f"{recipe_id}.{safe_name(clause.lower(), 40)}", taken)


def _switch(sub: Subtask, recipe_id: str, taken: set[str]) -> Subtask:
    """The subtask realised with another recipe; the recipes after it stay as alternatives."""
    recipe = RECIPES[recipe_id]
    sid = _dimension_id(recipe.id, sub.clause, taken)
    return sub.model_copy(update={"id": sid, **_realised_by(recipe, sid, sub.clause),
                                  "settings": _settings(recipe, sub.clause),
                                  "alternatives": [r for r in sub.alternatives if r != recipe_id]})


def _realised_by(recipe: Recipe, sid: str, clause: str) -> dict[str, str]:
    """Name, description, recipe and modality of the subtask `sid` that `recipe` realises for `clause`."""
    return {"name": recipe.title if sid == recipe.id else f"{recipe.title}: {clause}",
            "description": f"{recipe.description} Requirement: {clause}.", "recipe": recipe.id,
            "modality": recipe.modality}


DESIGN_SYSTEM = """You are the Design agent of a benchmark builder. You turn a user's requirement into \
subtasks: each subtask is one independent, testable evaluation dimension (a skill), named for what it \
tests, not for how it is built. Two subtasks may use the same recipe on different data. Every subtask is \
realised by one recipe from the catalogue; a skill no recipe can realise is listed as not covered, with \
why. Every part of the requirement ends up either in a subtask's clause or in not_covered. Answer with \
JSON only."""

PROPOSE_PROMPT = """Requirement:
{requirement}

Recipes that can realise a subtask (id [modality]: what it does, what it needs):
{catalogue}

Datasets in the pool:
{cards}

Brainstorm candidate subtasks that differ in granularity, coverage and emphasis, then keep the set \
that best covers the requirement with the data above. For each subtask give: name (the skill), \
description (what an item asks and why it tests the skill), clause (the words of the requirement it \
answers), recipe (a catalogue id) and keywords (3-8 words to search dataset cards with)."""

REFINE_PROMPT = """Requirement:
{requirement}

Recipes:
{catalogue}

Datasets in the pool:
{cards}

Current subtasks:
{subtasks}
{feedback}
Revise the set: refine a subtask's wording or scope while keeping its intent, switch it to another \
recipe when the feedback says its recipe or data cannot serve it, and discard subtasks whose \
contribution is marginal or unclear (list them in not_covered with why). Return the whole revised set."""


class ProposedSubtask(BaseModel):
    name: str = Field(description="The skill tested, e.g. 'Reading analogue clocks'.")
    description: str = Field(description="What an item asks and why it tests the skill.")
    clause: str = Field(description="The words of the requirement this subtask answers.")
    recipe: str = Field(description="Id of the catalogue recipe that realises the subtask.")
    keywords: list[str] = Field(description="3-8 words to search dataset cards with.")


class NotCovered(BaseModel):
    clause: str
    why: str


class DesignProposal(BaseModel):
    subtasks: list[ProposedSubtask]
    not_covered: list[NotCovered] = Field(default_factory=list)


class LLMDesigner:
    """Proposer, Reviser and Discard as LLM calls over the requirement, the recipe catalogue and the
    pool's cards; refines until the set is stable, and takes grounding's reasons into its revisions."""

    MAX_REFINE = 2

    def __init__(self, client: LLMClient, requirement: str, cards: str, feedback: list[str]) -> None:
        self.client, self.requirement, self.cards, self.feedback = client, requirement, cards, feedback
        self.not_covered: list[NotCovered] = []

    def _ask(self, decision: str, prompt: str) -> list[Subtask]:
        answer = self.client.structured("planner", decision, [("system", DESIGN_SYSTEM), ("user", prompt)],
                                        DesignProposal)
        self.not_covered = answer.not_covered
        subtasks, ids = [], set()
        for proposed in answer.subtasks:
            recipe = RECIPES.get(proposed.recipe)
            if recipe is None:
                self.not_covered.append(NotCovered(clause=proposed.clause,
                                                   why=f"proposed recipe {proposed.recipe!r} does not exist"))
                continue
            sid = _unique(safe_name(proposed.name.lower(), 40), ids)
            subtasks.append(Subtask(id=sid, name=proposed.name, description=proposed.description, recipe=recipe.id,
                                    modality=recipe.modality, keywords=[k for k in proposed.keywords if k][:8],
                                    clause=proposed.clause,
                                    settings=_settings(recipe, proposed.clause)))
        return subtasks

    def _refine(self, subtasks: list[Subtask], decision: str, reasons: list[str]) -> list[Subtask]:
        listed = "\n".join(f"- {s.id}: {s.name} ({s.recipe}): {s.description} [clause: {s.clause}]" for s in subtasks)
        feedback = ("\nWhy the last design was sent back:\n" + "\n".join(f"- {r}" for r in reasons) + "\n"
                    if reasons else "")
        return self._ask(decision, REFINE_PROMPT.format(requirement=self.requirement, catalogue=recipe_catalogue(),
                                                        cards=self.cards, subtasks=listed, feedback=feedback))

    def propose(self, requirement: str) -> list[Subtask]:
        subtasks = self._ask("design.propose", PROPOSE_PROMPT.format(
            requirement=requirement, catalogue=recipe_catalogue(), cards=self.cards))
        for _ in range(self.MAX_REFINE):
            revised = self._refine(subtasks, "design.refine", [])
            if _shape(revised) == _shape(subtasks):
                break
            subtasks = revised
        return subtasks

    def revise(self, subtasks: list[Subtask], rejected: dict[str, str], shortfall: int) -> list[Subtask]:
        return self._refine(subtasks, "design.revise", list(dict.fromkeys(self.feedback)))


def _shape(subtasks: list[Subtask]) -> list[tuple[str, str]]:
    return [(s.id, s.recipe) for s in subtasks]


def _unique(slug: str, taken: set[str]) -> str:
    sid, n = slug or "subtask", 2
    while sid in taken:
        sid, n = f"{slug}-{n}", n + 1
    taken.add(sid)
    return sid


def _designed(designer: Designer, state: BuildState, requirement: str) -> tuple[list[Subtask], str]:
    """The first proposal, or the revision of the last design after it was sent back."""
    if "subtasks" not in state:
        subtasks = designer.propose(requirement)
        return subtasks, f"design: proposed {[s.id for s in subtasks]}"
    rejected, shortfall = state.get("rejected_subtasks", {}), state.get("shortfall", 0)
    subtasks = designer.revise(state["subtasks"], rejected, shortfall)
    return subtasks, f"design: round {state.get('design_rounds', 0) + 1} revised to {[s.id for s in subtasks]} " \
                     f"after {rejected or shortfall}"


def _not_covered(designer: Designer) -> dict[str, str]:
    found = getattr(designer, "not_covered", {})
    return {n.clause: n.why for n in found} if isinstance(found, list) else dict(found)


def _dropped(state: BuildState, subtasks: list[Subtask]) -> dict[str, str]:
    """Clauses of subtasks grounding sent back that no subtask of the new design serves any more."""
    rejected, served = state.get("rejected_subtasks", {}), {s.clause for s in subtasks}
    first = state.get("first_rejections", {})
    return {s.clause: first.get(s.clause, rejected[s.id]) for s in state.get("subtasks", [])
            if s.id in rejected and s.clause not in served}


def make_design_node(get_llm: LLMFactory | None = None):
    def design(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["grounding", "assemble"]]:
        ctx = runtime.context or Context()
        rounds = state.get("design_rounds", 0) + 1
        requirement = store_for(state["run_dir"]).requirement
        designer: Designer = choose(
            ctx, lambda: OfflineDesigner(writer=uses_llm(ctx, "orchestrator")),
            lambda client: LLMDesigner(client, requirement, "\n".join(card_digest(c) for c in pool_for(ctx).cards()),
                                       state.get("design_feedback", [])),
            get_llm, state["run_dir"])
        events: list[str] = []
        try:
            subtasks, event = _designed(designer, state, requirement)
        except LLMError as exc:
            stop = stop_for(exc)
            if stop:
                return Command(goto="assemble", update={**stop, "events": [f"design: {exc}"]})
            events.append(f"design: the LLM designer failed ({exc.kind}: {exc}); the offline designer decides")
            designer = OfflineDesigner(writer=uses_llm(ctx, "orchestrator"))
            subtasks, event = _designed(designer, state, requirement)
        if ctx.snr_db is not None:  # an explicit SNR in the context beats the requirement's words
            for sub in subtasks:
                wanted = {**sub.settings, "noise": sub.settings.get("noise", "pink"), "snr_db": ctx.snr_db}
                if sub.recipe in RECIPES and _honours(RECIPES[sub.recipe], wanted):
                    sub.settings = wanted
        not_covered = {**state.get("not_covered", {}), **_not_covered(designer), **_dropped(state, subtasks)}
        served = {s.clause for s in subtasks}
        update = {"subtasks": subtasks, "design_rounds": rounds, "events": [*events, event],
                  "not_covered": {c: why for c, why in not_covered.items() if c not in served}}
        if not subtasks:
            message = nothing_served(update["not_covered"], pool_for(ctx), ctx.llm)
            return Command(goto="assemble", update={**update, "status": "refused", "message": message})
        if "subtasks" in state and _shape(subtasks) == _shape(state["subtasks"]):
            # Nothing left to try: grounding keeps what it grounded and reports the rest.
            update["design_rounds"] = max(rounds, ctx.max_design_rounds)
        return Command(goto="grounding", update=update)

    return design
