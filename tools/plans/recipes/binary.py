"""Recipes over two-label datasets: a yes/no or two-way question with the dataset's two labels as options."""

from __future__ import annotations

from pathlib import Path

from state.models import Check, DatasetCard, Item, Modality, Row, Step
from tools.plans.recipes.core import IMAGE_LABEL_Q, Recipe, question_step
from tools.plans.steps.binary import binary_options
from tools.pool import Pool
from tools.quality.item_checks import source_answers
from tools.text import norm

KEYWORDS = ("yes", "no", "binary", "two", "way", "whether", "true", "false", "correct", "present", "presence",
            "absence", "detect", "detection", "verify", "verification")


def two_labels(card: DatasetCard) -> str | None:
    if "options" in card.roles:
        return f"{card.id} has its own options; its answers are not class labels"
    if len(card.label_space or []) != 2:
        return f"{card.id} has {len(card.label_space or [])} labels, recipe needs exactly 2"
    return None


def _binary_check(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    """The options are the card's two labels and the answer is the label the raw record gives."""
    card = pool.card(item.source.dataset)
    gold = source_answers(row, card)
    ok = item.choices == binary_options(card.label_space or []) and gold == {norm(item.answer_text)}
    return [Check(name="binary_label", passed=ok,
                  detail=f"{item.answer_text!r} among {item.choices}; the record says {gold}")]


def _binary(modality: Modality, keywords: tuple[str, ...]) -> Recipe:
    image = modality == "image"
    return Recipe(
        id=f"{modality}-binary-label",
        title=f"Two-way {'image ' if image else ''}classification",
        description="A dataset with exactly two labels becomes a two-option question (yes/no first when the "
        f"labels are yes and no){'; the image is attached unchanged' if image else ''}.",
        modality=modality,
        keywords=KEYWORDS + keywords,
        roles=("answer",) if image else ("question", "answer"),
        answer_kinds=("label",),
        media="image" if image else None,
        card_check=two_labels,
        steps=lambda card: [*([Step(tool="attach_image")] if image else []),
                            question_step(IMAGE_LABEL_Q if image else ""), Step(tool="binary_choices")],
        checks=_binary_check,
        # Chance is 50%, so the item separates models less than a four-way one.
        preservation=lambda card: 0.6,
    )


RECIPES: list[Recipe] = [
    _binary("image", ("diagnosis", "diagnose", "diagnostic", "medical", "scan", "xray", "nodule", "lesion",
                      "tumor", "tumour", "malignant", "benign", "disease", "screening")),
    _binary("text", ("claim", "statement", "fact", "check", "answerable")),
]
