"""The recipe library: dataset-level transformation plans the deciders pick from.

A recipe says which rows it can use (roles, answer kind, media), which steps turn such a row into
an item, and how much of the source's evaluation signal survives. Both deciders share it: the
offline policy matches recipes by rules, an LLM policy can reuse and adapt them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from state.models import DatasetCard, Modality, Row, Step, TransformPlan
from tools.plans.steps import NLI_LABELS, nli_label
from tools.pool import Pool


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
        return self.card_check(card)

    def usable(self, row: Row) -> bool:
        """Whether one row carries what the recipe needs (its answer, roles and media)."""
        if self.media and not row.media.get(self.media):
            return False
        answer = row.values.get("answer")
        if answer in (None, "", []):
            return False
        return all(row.values.get(r) not in (None, "", []) for r in self.roles if r != "answer")

    def plan(self, card: DatasetCard) -> TransformPlan:
        return TransformPlan(
            recipe=self.id,
            dataset=card.id,
            field_map={role: card.roles[role] for role in self.roles if role in card.roles},
            steps=self.steps(card),
        )


def _class_labels(card: DatasetCard, minimum: int = 4) -> str | None:
    """Answers usable as classes: no options of the dataset's own, and enough labels for distractors."""
    if "options" in card.roles:
        return f"{card.id} has its own options; its answers are not class labels"
    if len(card.label_space or []) < minimum:
        return f"{card.id} has {len(card.label_space or [])} labels, recipe needs {minimum}"
    return None


def _entailment_labels(card: DatasetCard) -> str | None:
    space = {nli_label(x) for x in card.label_space or []}
    if not space or not space <= set(NLI_LABELS):
        return f"{card.id} labels {card.label_space} are not entailment labels"
    return None


def _label_preservation(card: DatasetCard) -> float:
    # Four labels fill four options (chance 25%); a larger space gives more confusable distractors.
    return min(1.0, 0.55 + 0.05 * (len(card.label_space or []) - 4))


def _question(default: str) -> Step:
    return Step(tool="compose_question", params={"default_question": default})


_IMAGE_LABEL_Q = "Which of the following best describes what the image shows?"

RECIPES: dict[str, Recipe] = {
    r.id: r
    for r in [
        Recipe(
            id="image-label-mcq",
            title="Image classification as multiple choice",
            description="A class label becomes a multiple-choice question with hard distractors from "
            "the dataset's label space; the image is attached unchanged.",
            modality="image",
            keywords=("recognise", "recognize", "recognising", "recognizing", "recognition", "identify",
                      "classify", "classification", "categorie", "category", "fine", "grained", "species",
                      "brand", "kind", "type", "label", "shape", "object", "logo", "which"),
            roles=("answer",),
            answer_kinds=("label",),
            media="image",
            card_check=_class_labels,
            steps=lambda card: [Step(tool="attach_image"), _question(_IMAGE_LABEL_Q),
                                Step(tool="label_choices", params={"n_options": 4})],
            preservation=_label_preservation,
        ),
        Recipe(
            id="image-robustness-mcq",
            title="Robustness to image degradation",
            description="An image question is asked on a resized, blurred, noisy or JPEG-compressed copy "
            "of its image; the answer must not change.",
            modality="image",
            keywords=("robust", "robustness", "perturbation", "perturbed", "blur", "blurry", "noise",
                      "noisy", "degraded", "degradation", "corrupted", "corruption", "jpeg", "compression",
                      "quality", "low"),
            roles=("answer",),
            answer_kinds=("label", "letter"),
            media="image",
            steps=lambda card: [
                Step(tool="attach_image"),
                Step(tool="perturb_image", params={"op": "blur"}),
                _question(_IMAGE_LABEL_Q),
                Step(tool="label_choices") if card.answer_kind == "label" else Step(tool="source_choices"),
            ],
            preservation=lambda card: 0.8,
        ),
        Recipe(
            id="image-mcq",
            title="Visual multiple-choice questions",
            description="Image questions with their own options (parsed out of the question text when "
            "needed), normalised to lettered choices.",
            modality="image",
            keywords=("visual", "question", "answering", "vqa", "diagram", "chart", "figure", "math",
                      "science", "reason", "reasoning", "read", "schedule", "clock", "time"),
            roles=("options", "answer"),
            answer_kinds=("letter", "label", "text"),
            media="image",
            steps=lambda card: [Step(tool="attach_image"), _question(""), Step(tool="source_choices")],
        ),
        Recipe(
            id="text-mcq",
            title="Text multiple-choice questions",
            description="Multiple-choice questions with their options normalised to lettered choices.",
            modality="text",
            keywords=("multiple", "choice", "knowledge", "commonsense", "causal", "cause", "effect",
                      "ethical", "ethic", "moral", "social", "emotion", "question", "answer", "trivia",
                      "general", "fact", "factual", "reasoning", "coreference"),
            roles=("options", "answer"),
            answer_kinds=("letter", "label", "text"),
            steps=lambda card: [_question(""), Step(tool="source_choices")],
        ),
        Recipe(
            id="entailment-mcq",
            title="Natural language inference",
            description="Premise and hypothesis become a three-way entailment question.",
            modality="text",
            keywords=("entailment", "entail", "inference", "nli", "premise", "hypothesi", "contradiction",
                      "implication", "follow", "conclusion", "logical"),
            roles=("premise", "hypothesis", "answer"),
            answer_kinds=("label",),
            card_check=_entailment_labels,
            steps=lambda card: [Step(tool="entailment_choices")],
        ),
        Recipe(
            id="dialogue-audio-mcq",
            title="Spoken dialogue comprehension",
            description="A written dialogue is rendered as speech with one voice per speaker and pauses "
            "between turns, optionally under background noise at a set SNR; the item asks for the most "
            "natural next reply.",
            modality="audio",
            keywords=("spoken", "speech", "audio", "listen", "listening", "conversation", "dialogue",
                      "dialog", "voice", "speaker", "turn", "noisy", "noise", "follow", "reply", "response"),
            roles=("dialogue", "answer"),
            answer_kinds=("text", "label", "list"),
            steps=lambda card: [Step(tool="dialogue_audio"), Step(tool="response_choices")],
            preservation=lambda card: 0.9,
        ),
        Recipe(
            id="text-open-qa",
            title="Open question answering",
            description="Questions with short free-text answers; every acceptable answer is kept.",
            modality="text",
            keywords=("open", "ended", "short", "answer", "question", "why", "explain", "reading",
                      "comprehension", "document", "passage", "temporal", "time", "causal"),
            roles=("question", "answer"),
            answer_kinds=("text", "list", "label"),
            steps=lambda card: [_question(""), Step(tool="open_answer")],
            preservation=lambda card: 0.7,
        ),
    ]
}


def usable_rows(pool: Pool, dataset: str, recipe_id: str) -> list[str]:
    """Sample ids of the dataset's rows the recipe can use."""
    recipe = RECIPES[recipe_id]
    return [row.sample_id for row in pool.rows(dataset) if recipe.usable(row)]
