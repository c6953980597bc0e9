"""Design agent: turns the requirement into subtasks (propose), and revises or discards them when
grounding rejects them or allocation runs out of data."""

from __future__ import annotations

import re
from typing import Literal, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.llm import LLMFactory, choose
from agents.resources import store_for
from state.context import Context
from state.graph_state import BuildState
from state.models import Modality, Subtask
from tools.plans.recipes import RECIPES, Recipe
from tools.text import content_words

MODALITY_CUES: dict[Modality, tuple[str, ...]] = {
    "image": ("image", "photo", "picture", "visual", "vision", "screenshot", "diagram", "chart",
              "figure", "scene", "drawing", "illustration"),
    "audio": ("spoken", "speech", "audio", "listen", "listening", "voice", "sound", "hear", "heard",
              "utterance", "podcast"),
}
NOISE_KINDS = ("white", "pink", "babble")


class Designer(Protocol):
    def propose(self, requirement: str) -> list[Subtask]: ...

    def revise(self, subtasks: list[Subtask], rejected: dict[str, str], shortfall: int) -> list[Subtask]: ...


def _match(token: str, keyword: str) -> bool:
    # Same word or same 6-letter stem: recognising/recognition, categories/category.
    return token == keyword or (min(len(token), len(keyword)) >= 5 and token[:6] == keyword[:6])


def _hits(words: list[str], recipe: Recipe) -> int:
    return sum(any(_match(w, k) for k in recipe.keywords) for w in words)


def _cues(words: list[str]) -> set[Modality]:
    return {m for m, cues in MODALITY_CUES.items() if any(_match(w, c) for w in words for c in cues)}


def _clauses(requirement: str) -> list[str]:
    parts = re.split(r"[.;,:!?\n]+|\band\b|\bas well as\b|\bplus\b", requirement, flags=re.IGNORECASE)
    return [p.strip() for p in parts if content_words(p)]


def _settings(requirement: str) -> dict[str, object]:
    """Audio settings the requirement states: background noise, its kind and SNR."""
    text = requirement.lower()
    settings: dict[str, object] = {}
    snr = re.search(r"(-?\d+(?:\.\d+)?)\s*db", text)
    if snr or re.search(r"\bnois[ey]|\bbackground\b", text):
        settings["noise"] = next((k for k in NOISE_KINDS if k in text), "pink")
        settings["snr_db"] = float(snr.group(1)) if snr else 10.0
    return settings


class OfflineDesigner:
    """Rules over the recipe library: each clause of the requirement gets the recipe whose keywords
    it hits most, among recipes of the modality the clause names."""

    def propose(self, requirement: str) -> list[Subtask]:
        settings = _settings(requirement)
        subtasks: dict[str, Subtask] = {}
        for clause in _clauses(requirement):
            words = content_words(clause)
            cues = _cues(words)
            # A clause naming a modality keeps to its recipes; otherwise every recipe competes on
            # keywords, text first on a tie.
            allowed = [r for r in RECIPES.values() if not cues or r.modality in cues]
            ranked = sorted(allowed, key=lambda r: (-_hits(words, r), r.modality != "text"))
            if not ranked or _hits(words, ranked[0]) == 0:
                continue
            best, rest = ranked[0], ranked[1:]
            if best.id in subtasks:
                merged = subtasks[best.id]
                merged.keywords = list(dict.fromkeys(merged.keywords + words))
                merged.clause = f"{merged.clause}; {clause}"
                continue
            subtasks[best.id] = Subtask(
                id=best.id,
                name=best.title,
                description=f"{best.description} Requirement: {clause}.",
                recipe=best.id,
                modality=best.modality,
                keywords=words,
                clause=clause,
                # Recipes the clause also hits come first; same-modality ones are a last resort.
                alternatives=[r.id for r in rest if _hits(words, r)] + [r.id for r in rest if not _hits(words, r)],
                settings=settings if best.modality == "audio" else {},
            )
        return list(subtasks.values())

    def revise(self, subtasks: list[Subtask], rejected: dict[str, str], shortfall: int) -> list[Subtask]:
        """Move each rejected subtask to its next recipe: into the subtask that already uses that
        recipe, or as a new subtask; drop it when no recipe is left. On a data shortfall, add the
        next unused alternative of some subtask as an extra subtask."""
        kept = {s.recipe: s for s in subtasks if s.id not in rejected}
        for sub in (s for s in subtasks if s.id in rejected):
            if not sub.alternatives:
                continue
            recipe = sub.alternatives[0]
            if recipe in kept:
                holder = kept[recipe]
                kept[recipe] = holder.model_copy(update={
                    "keywords": list(dict.fromkeys(holder.keywords + sub.keywords)),
                    "clause": f"{holder.clause}; {sub.clause}",
                })
            else:
                kept[recipe] = _switch(sub, recipe)
        if shortfall > 0:
            for sub in list(kept.values()):
                extra = next((r for r in sub.alternatives if r not in kept), None)
                if extra is not None:
                    kept[extra] = _switch(sub, extra)
                    break
        return list(kept.values())


def _switch(sub: Subtask, recipe_id: str) -> Subtask:
    """The subtask realised with another recipe; the recipes after it stay as alternatives."""
    recipe = RECIPES[recipe_id]
    return sub.model_copy(update={
        "id": recipe.id, "name": recipe.title, "recipe": recipe.id, "modality": recipe.modality,
        "description": f"{recipe.description} Requirement: {sub.clause}.",
        "alternatives": [r for r in sub.alternatives if r != recipe_id],
    })


def _recipe_list() -> str:
    return "; ".join(f"{r.id} ({r.title})" for r in RECIPES.values())


def make_design_node(get_llm: LLMFactory | None = None):
    def design(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["grounding", "assemble"]]:
        ctx = runtime.context or Context()
        designer: Designer = choose(ctx, OfflineDesigner, None, get_llm, "design")
        rounds = state.get("design_rounds", 0) + 1
        requirement = store_for(state["run_dir"]).requirement
        if "subtasks" not in state:
            subtasks = designer.propose(requirement)
            if ctx.snr_db is not None:  # an explicit SNR in the context beats the requirement's words
                for sub in subtasks:
                    if sub.modality == "audio":
                        sub.settings = {"noise": sub.settings.get("noise", "pink"), "snr_db": ctx.snr_db}
            event = f"design: proposed {[s.id for s in subtasks]}"
        else:
            rejected = state.get("rejected_subtasks", {})
            shortfall = state.get("shortfall", 0)
            subtasks = designer.revise(state["subtasks"], rejected, shortfall)
            event = f"design: round {rounds} revised to {[s.id for s in subtasks]} after {rejected or shortfall}"
        update = {"subtasks": subtasks, "design_rounds": rounds, "events": [event]}
        if "subtasks" in state and subtasks and [s.recipe for s in subtasks] == [s.recipe for s in state["subtasks"]]:
            reasons = "; ".join(dict.fromkeys(state.get("design_feedback", [])))
            return Command(goto="assemble", update={**update, "status": "refused", "message":
                           f"the design has no alternative left to try: {reasons}"})
        if not subtasks:
            reasons = "; ".join(state.get("design_feedback", []))
            message = (
                f"no recipe fits the requirement {requirement!r}"
                + (f" with this pool ({reasons})" if reasons else "")
                + f". Recipes cover: {_recipe_list()}. Rephrase the requirement in those terms or add data."
            )
            return Command(goto="assemble", update={**update, "status": "refused", "message": message})
        return Command(goto="grounding", update=update)

    return design
