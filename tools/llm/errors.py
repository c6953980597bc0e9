"""What an LLM call can fail with: one base class, a `kind` per failure, messages in plain words."""

from __future__ import annotations


class LLMError(RuntimeError):
    """Base of every failure `LLMClient` raises; `kind` names it for reports and routing."""

    kind = "error"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class LLMRejected(LLMError):
    """The endpoint refused the request (400/401/403/404/422) or the model cannot be loaded; sent once."""

    kind = "rejected"


class LLMUnavailable(LLMError):
    """Transient failures (429, 5xx, timeouts, connection errors) outlasted the retry budget."""

    kind = "unavailable"


class LLMOutputError(LLMError):
    """The model answered, but not usably: kind is refusal, truncated, schema or malformed."""


class BudgetExceeded(LLMError):
    """The run's recorded cost reached --max-cost; raised before any further call is sent."""

    kind = "budget"
