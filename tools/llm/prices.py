"""USD per million input and output tokens, for the cost ledger and --max-cost.

The built-in figures are OpenAI's list prices at the time of writing (standard tier, no cached-input
discount, so spend is if anything overestimated). Extend or correct them with a JSON file named by
BENCHAGENT_PRICES, {"model": [in_per_million, out_per_million]}, or LLMClient(prices=...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from tools.llm.models import LOCAL

PRICES_ENV = "BENCHAGENT_PRICES"

BUILT_IN: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


def price_table(extra: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """Built-in prices, overridden by the BENCHAGENT_PRICES file, overridden by `extra`."""
    table = dict(BUILT_IN)
    path = os.environ.get(PRICES_ENV)
    if path:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
            table.update({str(m): (float(p[0]), float(p[1])) for m, p in loaded.items()})
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"{PRICES_ENV}={path} is not a readable JSON object of "
                             f'{{"model": [in_per_million, out_per_million]}}: {exc}') from None
    table.update({m: (float(p[0]), float(p[1])) for m, p in (extra or {}).items()})
    return table


def cost(table: Mapping[str, tuple[float, float]], model: str, prompt_tokens: int,
         completion_tokens: int) -> float | None:
    """USD for one call, 0 for local models, None when the model has no price (unknown spend)."""
    if model.startswith(LOCAL):
        return 0.0
    if model not in table:
        return None
    per_in, per_out = table[model]
    return (prompt_tokens * per_in + completion_tokens * per_out) / 1_000_000
