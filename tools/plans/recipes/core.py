"""What a recipe is, and the card checks and step shorthands recipes share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from state.models import Check, DatasetCard, Item, Modality, Row, Step, TransformPlan
from tools.plans.steps import NLI_LABELS, nli_label
from tools.pool import Pool
from tools.quality.item_checks import mentioned_media


@dataclass(frozen=True)
class Recipe:
    id: str
    title: str
    description: str
    modality: Modality
    keywords: tuple[str, ...]
    roles: tuple[str, ...]
    answer_kinds: tuple[str, ...]
    media: Modality | None = None
    steps: Callable[[DatasetCard], list[Step]] = field(default=lambda card: [])
    # What else this recipe needs of a dataset, beyond roles, answer kind and media: a reason, or None.
    card_check: Callable[[DatasetCard], str | None] = field(default=lambda card: None)
    preservation: Callable[[DatasetCard], float] = field(default=lambda card: 1.0)
    # What else one row needs (annotations no role names, e.g. speaker turns in the raw record).
    row_check: Callable[[Row], bool] = field(default=lambda row: True)
    # The recipe's own verifier checks: they re-derive the answer from the source and measure the
    # media the item claims (arguments: the item, its source row, the pool, the run directory).
    checks: Callable[[Item, Row, Pool, Path], list[Check]] = field(default=lambda item, row, pool, root: [])
    # The skill comes from the steps (mixing voices, degrading, gridding), not from the data: alignment
    # then judges only what the clause asks of the data, without the recipe's own words.
    skill_in_steps: bool = False
    # How many distinct items one row yields (windows of one long recording); 1 for most recipes.
    variants: Callable[[Row], int] = field(default=lambda row: 1)
    # Its steps write with an LLM tool (tools.written): offline deciders never choose it.
    needs_llm: bool = False

    def misfit(self, card: DatasetCard) -> str | None:
        """Why this recipe cannot use the dataset, or None when it can."""
        if not card.has_roles(list(self.roles)):
            missing = [r for r in self.roles if r not in card.roles]
            return f"{card.id} lacks roles {missing}"
        if self.answer_kinds and card.answer_kind not in self.answer_kinds:
            return f"{card.id} answers are {card.answer_kind}, recipe needs {'/'.join(self.answer_kinds)}"
        if self.media:
            stats = card.media_stats(self.media)
            if stats is None or stats.present == 0:
                return f"{card.id} has no usable {self.media} files"
        dropped = [m.kind for m in card.media if m.present and m.kind not in self.carries]
        if dropped:  # its questions are about that media: an item without it is unanswerable
            return f"{card.id} holds {'/'.join(dropped)} files that recipe {self.id} would drop"
        return self.card_check(card)

    @property
    def carries(self) -> set[str]:
        """The media kinds an item of this recipe has."""
        return {k for k in (self.media, self.modality) if k in ("image", "audio")}

    def usable(self, row: Row) -> bool:
        """Whether one row carries what the recipe needs (its answer, roles and media)."""
        if self.media and not row.media.get(self.media):
            return False
        if "answer" in self.roles and row.values.get("answer") in (None, "", []):
            return False
        if any(row.media.get(kind) for kind in ("image", "audio") if kind not in self.carries):
            return False
        asked = " ".join(str(row.values.get(r, "")) for r in ("question", "instruction", "context"))
        if mentioned_media(asked) - self.carries:  # "which beaker in the image...", with no image
            return False
        return all(row.values.get(r) not in (None, "", []) for r in self.roles) and self.row_check(row)

    def plan(self, card: DatasetCard) -> TransformPlan:
        return TransformPlan(
            recipe=self.id,
            dataset=card.id,
            field_map={role: card.roles[role] for role in self.roles if role in card.roles},
            steps=self.steps(card),
        )


def class_labels(card: DatasetCard, minimum: int = 4) -> str | None:
    """Answers usable as classes: no options of the dataset's own, and enough labels for distractors."""
    if "options" in card.roles:
        return f"{card.id} has its own options; its answers are not class labels"
    if len(card.label_space or []) < minimum:
        return f"{card.id} has {len(card.label_space or [])} labels, recipe needs {minimum}"
    return None


def entailment_labels(card: DatasetCard) -> str | None:
    space = {nli_label(x) for x in card.label_space or []}
    if not space or not space <= set(NLI_LABELS):
        return f"{card.id} labels {card.label_space} are not entailment labels"
    return None


def label_preservation(card: DatasetCard) -> float:
    # Four labels fill four options (chance 25%); a larger space gives more varied distractor sets.
    return min(1.0, 0.55 + 0.05 * (len(card.label_space or []) - 4))


def question_step(default: str) -> Step:
    return Step(tool="compose_question", params={"default_question": default})


IMAGE_LABEL_Q = "Which of the following best describes what the image shows?"
