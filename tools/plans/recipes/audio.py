"""Recipes that render speech: spoken dialogues, optionally under noise."""

from __future__ import annotations

from state.models import Step
from tools.plans.recipes.core import (
    Recipe,
)

RECIPES: list[Recipe] = [
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
]
