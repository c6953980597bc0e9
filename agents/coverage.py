"""Coverage: which clause of the requirement each subtask serves, which clauses no subtask serves and
why, and the account given when nothing can be built."""

from __future__ import annotations

from typing import Any

from state.context import OFFLINE
from state.models import Subtask
from tools.plans.recipes import RECIPES
from tools.pool import Pool


def coverage(subtasks: list[Subtask], not_covered: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per clause, served ones first: the subtasks serving it, or why none does."""
    served: dict[str, list[str]] = {}
    for sub in subtasks:
        served.setdefault(sub.clause or sub.name, []).append(sub.id)
    return ([{"clause": c, "served": True, "subtasks": ids} for c, ids in served.items()]
            + [{"clause": c, "served": False, "why": why} for c, why in not_covered.items() if c not in served])


def nothing_served(not_covered: dict[str, str], pool: Pool, decider: str = OFFLINE) -> str:
    """The refusal when no part of the requirement can be built: how many clauses and where their
    reasons are, what this pool and the offline recipes can build, and, offline, that an LLM may do better."""
    recipes = [r for r in RECIPES.values() if decider != OFFLINE or not r.needs_llm]
    can = [f"{r.id} on {c.id}" for c in pool.cards() for r in recipes if r.misfit(c) is None]
    titles = "; ".join(sorted({r.title.lower() for r in recipes}))
    policy = "the offline policy" if decider == OFFLINE else f"the {decider} decider"
    hint = ("use an LLM decider (--llm MODEL), which may write items these recipes cannot" if decider == OFFLINE
            else "try another model")
    return (f"nothing in the requirement can be built from pool {pool.root.name} with {policy}: "
            f"{len(not_covered)} clause(s) not served (the coverage report says why). The recipes cover: "
            f"{titles}. On this pool they can build: {', '.join(can[:10]) or 'nothing'}"
            f"{f' and {len(can) - 10} more' if len(can) > 10 else ''}. Rephrase the requirement in those terms, "
            f"add datasets that fit, or {hint}.")
