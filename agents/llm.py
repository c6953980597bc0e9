"""Where deciders are chosen: the offline policy, or an LLM policy for a named chat model.

Chat models are built lazily here and nowhere else, so importing the graph never needs an API key;
the key is read from the environment by langchain-openai and never enters state or context.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from langchain_core.language_models import BaseChatModel

from state.context import OFFLINE, Context

LLMFactory = Callable[[str], BaseChatModel]
D = TypeVar("D")


class DeciderUnavailable(RuntimeError):
    """The context asks for a decider this build does not have."""


@lru_cache(maxsize=8)
def default_chat_model(model: str) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, temperature=0, timeout=120, max_retries=2)


def require_deciders(model: str) -> None:
    """Refuse a model before a run starts: no decision point has an LLM decider yet."""
    if model != OFFLINE:
        raise DeciderUnavailable(f"no LLM deciders yet for --llm {model}; run with --llm offline (the default)")


def choose(ctx: Context, offline: Callable[[], D], llm: Callable[[BaseChatModel], D] | None,
           get_llm: LLMFactory | None, decision: str) -> D:
    """The decider for one decision point: offline unless the context names a model."""
    if ctx.llm == OFFLINE:
        return offline()
    if llm is None:
        raise DeciderUnavailable(
            f"no LLM decider for '{decision}' yet; run with --llm offline (the default)"
        )
    return llm((get_llm or default_chat_model)(ctx.llm))
