"""Recipes over image datasets: class labels, visual questions and degraded copies."""

from __future__ import annotations

from state.models import Step
from tools.plans.recipes.core import (
    IMAGE_LABEL_Q,
    Recipe,
    class_labels,
    label_preservation,
    question_step,
)

RECIPES: list[Recipe] = [
    Recipe(
        id="image-label-mcq",
        title="Image classification as multiple choice",
        description="A class label becomes a multiple-choice question with distractors drawn from "
        "the dataset's label space so the key is exchangeable with them; the image is attached unchanged.",
        modality="image",
        keywords=("recognise", "recognize", "recognising", "recognizing", "recognition", "identify",
                  "classify", "classification", "categorie", "category", "fine", "grained", "species",
                  "brand", "kind", "type", "label", "shape", "object", "logo", "which"),
        roles=("answer",),
        answer_kinds=("label",),
        media="image",
        card_check=class_labels,
        steps=lambda card: [Step(tool="attach_image"), question_step(IMAGE_LABEL_Q),
                            Step(tool="label_choices", params={"n_options": 4})],
        preservation=label_preservation,
    ),
    Recipe(
        id="image-robustness-mcq",
        title="Robustness to image degradation",
        description="An image question is asked on a resized, blurred, noisy or JPEG-compressed copy "
        "of its image; the answer must not change.",
        modality="image",
        skill_in_steps=True,
        keywords=("robust", "robustness", "perturbation", "perturbed", "blur", "blurry", "blurred", "noise",
                  "compressed", "pixelated", "resolution", "downscaled", "grainy", "artefacts", "artifacts",
                  "noisy", "degraded", "degradation", "corrupted", "corruption", "jpeg", "compression",
                  "quality", "low"),
        roles=("answer",),
        answer_kinds=("label", "letter"),
        media="image",
        steps=lambda card: [
            Step(tool="attach_image"),
            Step(tool="perturb_image"),
            question_step(IMAGE_LABEL_Q),
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
        steps=lambda card: [Step(tool="attach_image"), question_step(""), Step(tool="source_choices")],
    ),
]
