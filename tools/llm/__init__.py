"""The LLM client layer: models per role, the embedded local server, cache, usage ledger and budget."""

from tools.llm.client import CallInfo, LLMClient, Message
from tools.llm.errors import (
           BudgetExceeded,
           LLMError,
           LLMOutputError,
           LLMRejected,
           LLMUnavailable,
)
from tools.llm.models import ROLES, ModelSpec, models_for, parse_model

__all__ = ["ROLES", "BudgetExceeded", "CallInfo", "LLMClient", "LLMError", "LLMOutputError", "LLMRejected",
           "LLMUnavailable", "Message", "ModelSpec", "models_for", "parse_model"]
