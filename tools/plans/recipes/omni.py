"""Omni-modal recipes: an image and a spoken dialogue in one item, each needed to answer it.

The checks never trust the step: the true label is read again from the raw record, the right speaker is
re-derived from it and the rendered script (metadata turns, which the speech check holds to the audio),
and the attached image must be the row's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from state.models import Check, Item, Row, Step
from tools.plans.recipes.core import Recipe, class_labels
from tools.plans.steps.omni import says
from tools.pool import Pool
from tools.pure.asr import word_error_rate
from tools.quality.item_checks import file_digest, source_answers
from tools.text import norm


@dataclass(frozen=True)
class _Claims:
    right: str  # who says the source's label
    wrong: str
    truth: str  # the source's label, as the label space spells it
    other: str  # the label the other one says


def _claims(item: Item, row: Row, pool: Pool) -> _Claims | str:
    """Who says what, read from the rendered script against the raw record's label; or why it cannot be."""
    space = pool.card(row.dataset).label_space or []
    truth = source_answers(row, pool.card(row.dataset)) or set()
    turns = item.metadata.get("turns") or []
    speakers = list(dict.fromkeys(t.get("speaker") for t in turns))
    if len(speakers) != 2 or None in speakers:
        return f"speakers {speakers}, not two named people"
    said = {s: " ".join(str(t["text"]) for t in turns if t["speaker"] == s) for s in speakers}
    right = [s for s in speakers if any(says(said[s], a) for a in truth)]
    if len(right) != 1:
        return f"{len(right)} speakers say the source's label {sorted(truth)}"
    (wrong,) = [s for s in speakers if s != right[0]]
    others = [x for x in space if norm(x) not in truth and says(said[wrong], x)]
    if len(others) != 1:
        return f"{wrong} says {len(others)} other labels of the dataset, not one"
    return _Claims(right[0], wrong, next(x for x in space if norm(x) in truth), others[0])


def _claims_check(item: Item, claims: _Claims | str) -> Check:
    """The answer is the speaker who says the source's label; the choices are the two speakers."""
    if isinstance(claims, str):
        return Check(name="omni_claims", passed=False, detail=claims)
    passed = item.answer_text == claims.right and sorted(item.choices or []) == sorted([claims.right, claims.wrong])
    return Check(name="omni_claims", passed=passed, detail=f"{claims.right} says {claims.truth!r}, {claims.wrong} says "
                                                           f"{claims.other!r}; answer {item.answer_text!r}")


def _attribution_check(item: Item, claims: _Claims) -> Check:
    """The speech heard (the speech check's transcript) is nearer the script than the script with the two
    labels swapped: the audio says who claims what, not just the words."""
    heard = item.metadata["speech_recognition"]["transcript"]
    script = " ".join(str(t["text"]) for t in item.metadata["turns"])
    pair = re.compile(rf"\b({re.escape(claims.truth)}|{re.escape(claims.other)})\b", re.I)
    swapped = pair.sub(lambda m: claims.other if norm(m.group()) == norm(claims.truth) else claims.truth, script)
    wer, swapped_wer = word_error_rate(script, heard), word_error_rate(swapped, heard)
    return Check(name="omni_attribution", passed=wer < swapped_wer,
                 detail=f"WER {wer:.2f} against the script, {swapped_wer:.2f} with the labels swapped")


def _image_check(item: Item, row: Row, pool: Pool, root: Path) -> Check:
    """The attached image is the row's: what the claims are judged against."""
    source = row.media.get("image") or []
    same = bool(source) and len(item.image) == 1 and file_digest(root / item.image[0]) == file_digest(
        pool.media_path(source[0]))
    return Check(name="omni_image", passed=same, detail="" if same else "the attached image is not the row's")


def _checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    if len(item.audio) != 1:
        return [Check(name="omni_claims", passed=False, detail=f"{len(item.audio)} audio files, not one")]
    claims = _claims(item, row, pool)
    checks = [_claims_check(item, claims), _image_check(item, row, pool, root)]
    # The verifier runs the speech check before recipe checks; without it (--no-speech-check) nothing was heard.
    if not isinstance(claims, str) and item.metadata.get("speech_recognition", {}).get("transcript"):
        checks.append(_attribution_check(item, claims))
    return checks


RECIPES: list[Recipe] = [
    Recipe(
        id="omni-image-dialogue",
        title="Image and spoken dialogue: who is right about the image",
        description="Two named people disagree in a spoken dialogue about what an image shows, one naming "
        "its class label and the other another label of the dataset; the item asks which speaker is right, "
        "so it needs the image (what it shows) and the audio (who said what).",
        modality="audio",
        media="image",
        skill_in_steps=True,
        keywords=("omni", "omnimodal", "modal", "modalities", "multimodal", "cross", "image", "picture",
                  "photo", "spoken", "speech", "conversation", "dialogue", "discussion", "speakers", "speaker",
                  "disagree", "argue", "claim", "right", "about"),
        roles=("answer",),
        answer_kinds=("label",),
        card_check=class_labels,
        steps=lambda card: [Step(tool="attach_image"), Step(tool="omni_dialogue")],
        checks=_checks,
        # The label question survives as a two-way choice between claims (chance 50% instead of 25%).
        preservation=lambda card: 0.6,
    ),
]
