"""What an LLM decider is shown of the world it decides on: the recipes and steps that can realise a
subtask, and a condensed view of each dataset card. Plain text, short, and stable between calls so
that the LLM cache hits on a repeated run."""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from state.models import DatasetCard
from tools.plans.recipes import RECIPES
from tools.plans.steps import STEPS


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def _step_params(tool: str) -> str:
    fields = STEPS[tool].params.model_fields
    return ", ".join(f"{name}: {_type_name(info.annotation)}" for name, info in fields.items()) or "no parameters"


def recipe_catalogue() -> str:
    """Every recipe with what it needs of a dataset and the registered steps it runs."""
    lines = []
    for r in RECIPES.values():
        steps = "; ".join(f"{s.tool}({_step_params(s.tool)})" for s in _example_steps(r.id))
        lines.append(f"- {r.id} [{r.modality}]: {r.title}. {r.description} Needs roles {list(r.roles)}, "
                     f"answers {'/'.join(r.answer_kinds)}" + (f", {r.media} files" if r.media else "")
                     + f". Steps: {steps}." + (" Items are written by LLM tools." if r.needs_llm else ""))
    return "\n".join(lines)


def _example_steps(recipe_id: str):
    blank = DatasetCard(id="x", name="x", path="x", layout="folder", data_file="x")
    return RECIPES[recipe_id].steps(blank)


def card_digest(card: DatasetCard) -> str:
    """One dataset in a few lines: what it is, what it holds, what its answers look like."""
    labels = card.label_space or []
    media = ", ".join(f"{m.kind} {m.present} present" for m in card.media) or "none"
    shown = ", ".join(labels[:8]) + (f" (+{len(labels) - 8} more)" if len(labels) > 8 else "")
    return (f"{card.id}: {card.name}. {card.description or card.task}".strip()
            + f"\n  rows {card.n_rows}, answered {card.n_answered}; modalities {'+'.join(card.modalities_in)}; "
            f"media {media}; roles {sorted(card.roles)}; answers {card.answer_kind}"
            + (f"; labels: {shown}" if labels else "")
            + (f"; domain {', '.join(card.domain)}" if card.domain else "")
            + f"; license {card.license or 'unknown'}")
