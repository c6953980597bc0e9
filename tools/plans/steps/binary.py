"""A step that turns a label from a two-label dataset into a two-option question."""

from __future__ import annotations

from pathlib import Path

from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers
from tools.plans.steps.text import NoParams
from tools.text import norm


def binary_options(space: list[str]) -> list[str]:
    """The two labels in a fixed order: "yes" before "no", otherwise as the card lists them."""
    return sorted(space, key=lambda x: norm(x) != "yes") if {norm(x) for x in space} == {"yes", "no"} else list(space)


@register("binary_choices", NoParams)
def binary_choices(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """The dataset's two labels as the options and the row's label as the answer."""
    space = env.card.label_space or []
    if len(space) != 2:
        raise StepError(f"{env.card.id} has {len(space)} labels; a two-option question needs exactly 2")
    answers = row_answers(env.row)
    match = [x for x in space if answers and norm(x) == norm(answers[0])]
    if len(answers) != 1 or not match:
        raise StepError(f"row's answer {answers} is not one of the labels {space}")
    draft.choices, draft.answer_text = binary_options(space), match[0]
    return []
