"""Recipes over text datasets: multiple choice, entailment and open answers."""

from __future__ import annotations

from state.models import Step
from tools.plans.recipes.core import (
    Recipe,
    entailment_labels,
    question_step,
)

RECIPES: list[Recipe] = [
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
        steps=lambda card: [question_step(""), Step(tool="source_choices")],
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
        card_check=entailment_labels,
        steps=lambda card: [Step(tool="entailment_choices")],
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
        steps=lambda card: [question_step(""), Step(tool="open_answer")],
        preservation=lambda card: 0.7,
    ),
]
