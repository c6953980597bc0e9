"""The omni step: a spoken dialogue about the attached image in which two named people disagree on what it
shows. Only the image says who is right; only the audio says who claimed what.

The step records the rendered turns (speaker, text, language, voice, times) under metadata["turns"], so
the recipe's checks can re-derive the right speaker from the source label and the script alone.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from tools.plans.distractors import AnswerCounts, answer_counts, exchangeable_distractors
from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers
from tools.pool import Pool
from tools.text import norm

# One woman and one man: their voices lie far apart in pitch, and who is right is drawn independently.
WOMEN = ("Anna", "Maria", "Sofia", "Emma", "Laura", "Nina", "Grace", "Helen")
MEN = ("Ben", "Tom", "Leo", "David", "Omar", "Peter", "Hugo", "Sam")
OPENINGS = ("To me this picture shows {label}.", "I would label this picture {label}.",
            "I am fairly sure the picture shows {label}.", "This one is clearly {label}.")
REPLIES = ("No, I would call it {label}.", "I disagree, it shows {label}.", "Really? I would say it is {label}.",
           "I don't think so. It is {label}.")
QUESTION = "Look at the image and listen to the conversation. Which speaker is right about what the image shows?"
_WORDS = re.compile(r"\w+")


def says(text: str, label: str) -> bool:
    """Whether `text` says `label` as whole words, case and punctuation aside ("BMW." says "bmw")."""
    said, named = _WORDS.findall(text.casefold()), _WORDS.findall(label.casefold())
    return bool(named) and any(said[i : i + len(named)] == named for i in range(len(said) - len(named) + 1))


def disagreement(rng: random.Random, truth: str, distractor: str) -> tuple[list[dict], str]:
    """Two turns: one person claims `truth`, the other `distractor`. Who speaks first and whether the first
    speaker is right are separate coin flips, so neither order nor voice tells who is right. Returns the
    turns and the name of the speaker who is right."""
    first, second = rng.choice(WOMEN), rng.choice(MEN)
    if rng.random() < 0.5:
        first, second = second, first
    first_right = rng.random() < 0.5
    claims = (truth, distractor) if first_right else (distractor, truth)
    turns = [{"speaker": first, "text": rng.choice(OPENINGS).format(label=claims[0])},
             {"speaker": second, "text": rng.choice(REPLIES).format(label=claims[1])}]
    return turns, first if first_right else second


class OmniParams(BaseModel):
    pause_ms: int = Field(400, ge=0, le=2000, description="Silence between the two turns.")


@lru_cache(maxsize=256)
def _rivals(pool: Pool, dataset: str, space: frozenset[str], truth: str) -> AnswerCounts:
    """The labels a claim may rival `truth` with (neither inside the other), counted once per label, not
    per item: class labels are few, rows many."""
    return answer_counts(pool.rows(dataset), lambda a: norm(a) in space and (
        norm(a) == norm(truth) or not (says(a, truth) or says(truth, a))))


@register("omni_dialogue", OmniParams)
def omni_dialogue(draft: Draft, env: StepEnv, p: OmniParams) -> list[Path]:
    """After attach_image: a spoken disagreement about the image between two people, one naming the row's
    label, the other a label of the dataset exchangeable with it (neither inside the other, so each claim is
    unambiguous); the item asks which of them is right."""
    if not draft.image:
        raise StepError("omni_dialogue needs an attached image")
    answers = row_answers(env.row)
    if len(answers) != 1:
        raise StepError("row has no single class label")
    truth = answers[0]
    counts = _rivals(env.pool, env.card.id, frozenset(norm(x) for x in env.card.label_space or []), truth)
    if len(counts) < 2:
        raise StepError(f"label space of {env.card.id} has no label distinct from {truth!r}")
    rng = env.rng(f"omni:{draft.metadata.get('repair', 0)}")
    distractor = exchangeable_distractors(truth, counts, 1, rng)[0]
    turns, right = disagreement(rng, truth, distractor)
    speech = env.call(draft, "speak_dialogue", {"turns": turns, "pause_ms": p.pause_ms,
                                                "out": env.media_name(".wav")})
    draft.audio, draft.modality = [env.store.root / speech.outputs[0]], "audio"
    draft.metadata.update(turns=speech.values["turns"], voices=speech.values["voices"], distractor=distractor)
    draft.question, draft.choices, draft.answer_text = QUESTION, [t["speaker"] for t in turns], right
    return list(draft.audio)
