"""Where deciders are chosen: the offline policy, or an LLM policy for the models the context names.

The LLM client is built lazily here and nowhere else, one per run directory and model setting, so
importing the graph never needs an API key; keys stay in the environment (tools/llm reads them) and
never enter state or context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from state.context import OFFLINE, Context
from tools.llm import (
    ROLES,
    BudgetExceeded,
    LLMClient,
    LLMError,
    LLMRejected,
    LLMUnavailable,
    local,
    models_for,
    parse_model,
)

# Builds the run's client from its context and run directory; tests and embedders may pass their own.
LLMFactory = Callable[[Context, str], LLMClient]
D = TypeVar("D")


class DeciderUnavailable(RuntimeError):
    """The context asks for models that cannot be used; the message says why."""


def check_models(ctx: Context) -> None:
    """Refuse a model setting before a run starts, in plain words."""
    unknown = sorted(set(ctx.llm_roles) - set(ROLES))
    if unknown:
        raise DeciderUnavailable(f"unknown roles {unknown}; the roles are {', '.join(ROLES)}")
    try:
        for spec in map(parse_model, {ctx.llm_roles.get(role, ctx.llm) for role in ROLES} - {OFFLINE}):
            if spec.local:
                local.model_file(spec.name)
    except (ValueError, LLMRejected) as exc:
        raise DeciderUnavailable(str(exc)) from None


@lru_cache(maxsize=8)
def _client(run_dir: str, llm: str, roles: tuple[tuple[str, str], ...], max_cost: float | None,
            concurrency: int) -> LLMClient:
    return LLMClient(models_for(llm, dict(roles)), Path(run_dir) if run_dir else None, max_cost=max_cost,
                     concurrency=concurrency)


_CLIENTS = threading.Lock()


def run_client(ctx: Context, run_dir: str) -> LLMClient:
    """The run's LLM client, shared by every node of this process (its cache and ledger live in the run).
    The executor tasks of a round ask for it at once: the lock makes the first of them build the one."""
    with _CLIENTS:
        return _client(run_dir, ctx.llm, tuple(sorted(ctx.llm_roles.items())), ctx.max_cost, ctx.llm_concurrency)


def uses_llm(ctx: Context, role: str) -> bool:
    """Whether a role has a model: `llm` names one for every role, `llm_roles` for single roles (where
    "offline" keeps that role on the offline policy)."""
    return ctx.llm_roles.get(role, ctx.llm) != OFFLINE


def samples_at_once(ctx: Context) -> int:
    """How many samples a round dispatches: the setting, else as many as the endpoints take at once (the
    embedded server decodes local.SLOTS requests at a time)."""
    if ctx.concurrency:
        return ctx.concurrency
    models = {ctx.llm_roles.get(role, ctx.llm) for role in ROLES} - {OFFLINE}
    if models and all(parse_model(m).local for m in models):
        return min(ctx.llm_concurrency, local.SLOTS)
    return ctx.llm_concurrency


def choose(ctx: Context, offline: Callable[[], D], llm: Callable[[LLMClient], D] | None,
           get_llm: LLMFactory | None, run_dir: str = "", role: str = "planner") -> D:
    """The decider for one decision point: the LLM one when the role has a model and the decision has
    one (allocation has none yet); the offline policy otherwise. The decider tags each call with its
    decision for the ledger."""
    if llm is None or not uses_llm(ctx, role):
        return offline()
    return llm(llm_client(ctx, run_dir, get_llm))


def llm_client(ctx: Context, run_dir: str, get_llm: LLMFactory | None = None) -> LLMClient:
    return (get_llm or run_client)(ctx, run_dir)


def stop_for(exc: LLMError) -> dict | None:
    """How the build ends when an LLM call fails for good: a refused call or key is bad input (the
    user must change the setting), a spent budget ends the build cleanly with what it has, and an
    endpoint that stays down stops the run where it is (raised: resume once it is back); None for
    unusable output, which a decision survives by falling back to the offline policy."""
    if isinstance(exc, LLMUnavailable):
        raise exc
    if isinstance(exc, LLMRejected):
        return {"status": "refused", "message": str(exc)}
    if isinstance(exc, BudgetExceeded):
        return {"status": "short", "message": f"stopped at the budget: {exc}"}
    return None


def raise_stops(results: list) -> None:
    """map_structured returns failures in place; the ones that end a build are raised."""
    for result in results:
        if isinstance(result, LLMRejected | BudgetExceeded | LLMUnavailable):
            raise result
