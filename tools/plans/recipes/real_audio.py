"""Recipes over real recorded speech: which word is spoken (also under recorded noise), which clip has the
reference's speaker, how many people talk (in a mixture of clips, in a real meeting) and who talks when.

Their checks re-derive each answer from the pool's own annotations (raw speaker fields, turn timings,
transcripts) with code that shares nothing with the steps, and rebuild each item's audio from the pool
clips its layout names, so a step that mislabels, misplaces or mis-levels a clip is caught.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from state.models import Check, DatasetCard, Item, Row, Step
from tools.plans.recipes.core import Recipe, class_labels, label_preservation, question_step
from tools.plans.steps.real_audio import count_windows, who_points
from tools.pool import Pool
from tools.pure.audio_io import read_wav
from tools.text import norm

REBUILD_MIN_DB = 30.0  # 16-bit rounding leaves the rebuilt audio some 70 dB under the file; a wrong clip, ~0 dB
SNR_TOLERANCE_DB = 0.5
GRID_S = 0.01
DIGIT_WORDS = dict(enumerate("zero one two three four five six seven eight nine".split()))


class _Unbuildable(ValueError):
    """A layout names a clip or stretch the pool does not hold."""


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def _rebuild(layers: list[dict[str, Any]], frames: int, rate: int, pool: Pool) -> np.ndarray:
    """The audio the layers describe, summed from the pool's own files."""
    out = np.zeros(frames)
    for layer in layers:
        try:
            source_row = pool.row(layer["dataset"], layer["sample_id"])
            samples, source_rate = read_wav(pool.media_path(source_row.media["audio"][0]))
        except (KeyError, IndexError, ValueError) as exc:
            raise _Unbuildable(f"layer {layer.get('role')}: {exc}") from None
        if source_rate != rate:
            raise _Unbuildable(f"{layer['sample_id']} is {source_rate} Hz, the item {rate} Hz")
        start, n, at = (round(layer[k] * rate) for k in ("from_s", "duration_s", "at_s"))
        piece = samples[start : start + n] * 10 ** (layer["gain_db"] / 20)
        if len(piece) != n or at + n > frames:
            raise _Unbuildable(f"layer {layer['role']} runs past its source or the item's audio")
        out[at : at + n] += piece
    return out


def _raw_row(pool: Pool, layer: dict[str, Any]) -> dict[str, Any]:
    return pool.row(layer["dataset"], layer["sample_id"]).raw


def _label(pool: Pool, layer: dict[str, Any]) -> str:
    """A layer's clip's class label, read from the raw record at the card's answer field."""
    return str(_raw_row(pool, layer).get(pool.card(layer["dataset"]).roles.get("answer", ""), ""))


def layout_rebuilds(item: Item, pool: Pool, root: Path) -> Check:
    """The item's audio is what its layout says: the named pool clips at the stated places and gains."""
    layers = item.metadata.get("layout") or []
    if not layers or len(item.audio) != 1:
        return Check(name="layout_rebuilds", passed=False, detail="the item records no layout for one audio file")
    audio, rate = read_wav(root / item.audio[0])
    try:
        error = _power(audio - _rebuild(layers, len(audio), rate, pool))
    except _Unbuildable as exc:
        return Check(name="layout_rebuilds", passed=False, detail=str(exc))
    ratio = math.inf if error == 0 else 10 * math.log10(_power(audio) / error)
    return Check(name="layout_rebuilds", passed=ratio >= REBUILD_MIN_DB,
                 detail=f"file vs rebuilt from the pool: {ratio:.1f} dB")


def sources_listed(item: Item, row: Row, pool: Pool) -> Check:
    """Every source record besides the item's own is listed with its card's licence."""
    listed = {(s["dataset"], s["sample_id"], s["license"]) for s in item.metadata.get("sources", [])}
    used = {(layer["dataset"], layer["sample_id"]) for layer in item.metadata.get("layout", [])}
    missing = [f"{d}/{s}" for d, s in sorted(used - {(row.dataset, row.sample_id)})
               if (d, s, pool.card(d).license) not in listed]
    return Check(name="sources_listed", passed=not missing,
                 detail=f"unlisted: {', '.join(missing[:3])}" if missing else "")


def _spoken_word(item: Item, row: Row, pool: Pool) -> Check:
    """The answer is the word the clip says, by the transcript (else the label) of the clip laid in."""
    speech = [layer for layer in item.metadata.get("layout", []) if layer["role"] == "speech"]
    raw = _raw_row(pool, speech[0]) if len(speech) == 1 else {}
    said = norm(raw.get("transcript") or raw.get(pool.card(row.dataset).roles.get("answer", ""), ""))
    answer = norm(item.answer_text)
    spoken = {answer, DIGIT_WORDS.get(int(answer), "") if answer.isdigit() else ""}
    ok = len(speech) == 1 and speech[0]["sample_id"] == row.sample_id and bool(said) and said in spoken
    return Check(name="spoken_word", passed=ok, detail=f"answer {item.answer_text!r}, the clip says {said!r}")


def _same_speaker(item: Item, row: Row, pool: Pool) -> Check:
    """One candidate, the answer, has the reference's speaker; the others are other, distinct people who
    say the same word as each other; no clip is used twice."""
    layers = {layer["role"]: layer for layer in item.metadata.get("layout", [])}
    voice = {role: _raw_row(pool, layer).get("speaker") for role, layer in layers.items()}
    candidates = [c for c in item.choices or [] if c in layers]
    same = [c for c in candidates if voice[c] == voice.get("reference")]
    others = [voice[c] for c in candidates if c not in same]
    words = {_label(pool, layers[c]) for c in candidates}
    ok = ("reference" in layers and layers["reference"]["sample_id"] == row.sample_id
          and len(candidates) == len(item.choices or []) == len(layers) - 1
          and len({(x["dataset"], x["sample_id"]) for x in layers.values()}) == len(layers)
          and same == [item.answer_text] and len(set(others)) == len(others)
          and len(words) == 1 and words != {_label(pool, layers["reference"])})
    return Check(name="same_speaker", passed=ok,
                 detail=f"same voice as the reference: {same}; answer {item.answer_text}")


def _talker_count(item: Item, row: Row, pool: Pool) -> Check:
    """The answer is the number of distinct speakers of the clips laid in."""
    people = {str(_raw_row(pool, layer).get("speaker")) for layer in item.metadata.get("layout", [])}
    return Check(name="talker_count", passed=norm(item.answer_text) == str(len(people)),
                 detail=f"{len(people)} speakers in the sources, answer {item.answer_text}")


def _grid_talkers(raw_turns: list[dict[str, Any]], a: float, b: float) -> list[set[str]]:
    """Who talks at each GRID_S frame centre of [a, b]."""
    centres = np.arange(a + GRID_S / 2, b, GRID_S)
    frames: list[set[str]] = [set() for _ in centres]
    for turn in raw_turns:
        for i in np.flatnonzero((centres >= turn["start"]) & (centres < turn["end"])):
            frames[i].add(str(turn["speaker"]))
    return frames


def _window_count(item: Item, row: Row, pool: Pool) -> Check:
    """The answer is how many people the turn annotation has talking in the window cut out."""
    a, b = item.metadata.get("window_s", (0.0, 0.0))
    meeting = [layer for layer in item.metadata.get("layout", []) if layer["role"] == "meeting"]
    talkers = set().union(*_grid_talkers(row.raw.get("speaker_turns", []), a, b))
    ok = (len(meeting) == 1 and math.isclose(meeting[0]["from_s"], a, abs_tol=1e-3)
          and math.isclose(meeting[0]["duration_s"], b - a, abs_tol=1e-3)
          and norm(item.answer_text) == str(len(talkers)))
    return Check(name="window_count", passed=ok,
                 detail=f"{len(talkers)} talk in {a:g}-{b:g} s, answer {item.answer_text}")


def _speaker_at_time(item: Item, row: Row, pool: Pool) -> Check:
    """At the asked time one person talks, and the answer's reference clip is that person talking alone;
    every option's clip is a different person talking alone."""
    raw_turns = row.raw.get("speaker_turns", [])
    t = float(item.metadata.get("time_s", -1))
    now = {str(x["speaker"]) for x in raw_turns if x["start"] <= t <= x["end"]}
    refs = {layer["role"]: layer for layer in item.metadata.get("layout", []) if layer["role"] in (item.choices or [])}
    voices = {}
    for role, layer in refs.items():
        frames = _grid_talkers(raw_turns, layer["from_s"], layer["from_s"] + layer["duration_s"])
        alone = {frozenset(f) for f in frames}
        voices[role] = next(iter(next(iter(alone)))) if len(alone) == 1 and len(next(iter(alone))) == 1 else None
    ok = (len(now) == 1 and len(refs) == len(item.choices or []) and None not in voices.values()
          and len(set(voices.values())) == len(voices) and {voices.get(item.answer_text)} == now
          and f"{t:.1f} s" in item.question)
    return Check(name="speaker_at_time", passed=ok,
                 detail=f"at {t:.1f} s the turns have {sorted(now)}; options {voices}; answer {item.answer_text}")


def _noise_snr(item: Item, pool: Pool, root: Path) -> Check:
    """The SNR of the written mixture against the speech rebuilt from the pool, as asked."""
    speech = [layer for layer in item.metadata.get("layout", []) if layer["role"] == "speech"]
    mixture, rate = read_wav(root / item.audio[0])
    try:
        clean = _rebuild(speech, len(mixture), rate, pool)
    except _Unbuildable as exc:
        return Check(name="noise_snr", passed=False, detail=str(exc))
    measured = 10 * math.log10(_power(clean) / max(_power(mixture - clean), 1e-20))
    wanted = float(item.metadata.get("snr_db", math.nan))
    return Check(name="noise_snr", passed=abs(measured - wanted) <= SNR_TOLERANCE_DB,
                 detail=f"measured {measured:.2f} dB against the source speech, asked {wanted:g} dB")


def _with_layout(check):
    """A recipe's checks: its own answer check, the layout rebuilt, the extra sources credited."""
    return lambda item, row, pool, root: [check(item, row, pool), layout_rebuilds(item, pool, root),
                                          sources_listed(item, row, pool)]


def _noisy_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    return [*_with_layout(_spoken_word)(item, row, pool, root), _noise_snr(item, pool, root)]


def _field(card: DatasetCard, path: str):
    return next((f for f in card.fields if f.path == path), None)


def spoken_words(card: DatasetCard) -> str | None:
    """Class labels that are words spoken in each clip: the rows carry what the clip says."""
    if _field(card, "transcript") is None:
        return f"{card.id} has no transcript field, so its labels are not known to be spoken words"
    return class_labels(card)


def single_talkers(card: DatasetCard, minimum: int = 4) -> str | None:
    """Clips of one person each (a speaker field, no turn annotation) from at least `minimum` people."""
    speakers = _field(card, "speaker")
    if speakers is None or _field(card, "speaker_turns") is not None:
        return f"{card.id} has no per-clip speaker field (or its clips hold several talkers)"
    if speakers.distinct < minimum:
        return f"{card.id} has {speakers.distinct} speakers, recipe needs {minimum}"
    return None


def repeated_talkers(card: DatasetCard) -> str | None:
    """As single_talkers, and each person says several clips (to give a same-voice candidate)."""
    reason = single_talkers(card)
    if reason is None and card.n_rows < 2 * _field(card, "speaker").distinct:
        return f"{card.id} has {card.n_rows} clips of {_field(card, 'speaker').distinct} speakers, too few repeats"
    return reason


def meetings(card: DatasetCard) -> str | None:
    return None if _field(card, "speaker_turns") else f"{card.id} has no speaker_turns annotation"


def _word_question(card: DatasetCard, noisy: bool = False) -> Step:
    kind = "digit" if all(x.isdigit() for x in card.label_space or ["x"]) else "word"
    return question_step(f"Which {kind} is spoken in the recording{' under the background noise' if noisy else ''}?")


def _names_its_speaker(row: Row) -> bool:
    return bool(str(row.raw.get("speaker") or "").strip())


RECIPES: list[Recipe] = [
    Recipe(
        id="spoken-word-mcq",
        title="Spoken word recognition",
        description="A real recording of one spoken word (a digit, a command) is attached as it is; the item "
        "asks which word it says, distractors from the dataset's other words.",
        modality="audio",
        keywords=("recognise", "recognize", "recognition", "spoken", "digit", "word", "command", "keyword",
                  "say", "utterance", "isolated"),
        roles=("answer",),
        answer_kinds=("label",),
        media="audio",
        steps=lambda card: [Step(tool="attach_audio"), _word_question(card), Step(tool="label_choices")],
        card_check=spoken_words,
        preservation=label_preservation,
        checks=_with_layout(_spoken_word),
    ),
    Recipe(
        id="spoken-word-noise-mcq",
        title="Spoken word recognition under real background noise",
        description="A real spoken word under a seeded stretch of a recorded noise (dishes, tap, bike, cat) at "
        "an exact SNR; the item records the noise clip, its offset, the SNR asked and the SNR measured.",
        modality="audio",
        skill_in_steps=True,
        keywords=("recognise", "recognize", "recognition", "speech", "noise", "noisy", "background", "real",
                  "recorded", "snr", "robust", "robustness", "masked", "interference"),
        roles=("answer",),
        answer_kinds=("label",),
        media="audio",
        steps=lambda card: [Step(tool="attach_audio"), Step(tool="real_noise"), _word_question(card, noisy=True),
                            Step(tool="label_choices")],
        card_check=spoken_words,
        preservation=lambda card: label_preservation(card) * 0.95,
        checks=_noisy_checks,
    ),
    Recipe(
        id="speaker-identification-mcq",
        title="Speaker identification",
        description="A reference clip, then candidate clips that all say one other word; one candidate is "
        "spoken by the reference's speaker, the others by other people. One file, clips in sequence.",
        modality="audio",
        skill_in_steps=True,
        keywords=("identify", "identification", "speaker", "same", "person", "voice", "verification",
                  "verify", "reference", "match", "recognise"),
        roles=("answer",),
        answer_kinds=("label",),
        media="audio",
        steps=lambda card: [Step(tool="speaker_lineup")],
        card_check=repeated_talkers,
        preservation=lambda card: 0.9,
        row_check=_names_its_speaker,
        checks=_with_layout(_same_speaker),
    ),
    Recipe(
        id="speaker-count-mix-mcq",
        title="Counting talkers in a mixture of real clips",
        description="Real clips of one to four people, some saying several words, one after another with "
        "pauses or partial overlaps at different levels; the item asks how many different people speak.",
        modality="audio",
        skill_in_steps=True,
        keywords=("count", "counting", "many", "number", "people", "speak", "talker", "different", "distinct",
                  "overlapping", "overlap", "mixture", "voices"),
        roles=(),
        answer_kinds=(),
        media="audio",
        steps=lambda card: [Step(tool="speaker_mix")],
        card_check=single_talkers,
        preservation=lambda card: 0.9,
        row_check=_names_its_speaker,
        checks=_with_layout(_talker_count),
    ),
    Recipe(
        id="meeting-speaker-count-mcq",
        title="Counting speakers in a real meeting recording",
        description="A real multi-party meeting recording, whole or cut into 10-second windows; the item asks "
        "how many people speak in it, from the manual speaker turns.",
        modality="audio",
        keywords=("count", "counting", "many", "number", "people", "speak", "speaker", "meeting", "recording",
                  "conversation", "participant", "diarization", "diarisation", "between"),
        roles=(),
        answer_kinds=(),
        media="audio",
        steps=lambda card: [Step(tool="meeting_count")],
        card_check=meetings,
        preservation=lambda card: 0.85,
        row_check=lambda row: bool(count_windows(row)),
        checks=_with_layout(_window_count),
        variants=lambda row: len(count_windows(row)),
    ),
    Recipe(
        id="meeting-who-speaks-mcq",
        title="Who is speaking when, in a real meeting",
        description="A real meeting recording followed by a reference clip of each participant (their solo "
        "talk elsewhere in it); the item asks which of them speaks at a given moment, from the speaker turns.",
        modality="audio",
        keywords=("who", "speaking", "speaks", "talking", "time", "moment", "when", "given", "timestamp",
                  "diarization", "diarisation", "meeting", "turn"),
        roles=(),
        answer_kinds=(),
        media="audio",
        steps=lambda card: [Step(tool="meeting_who")],
        card_check=meetings,
        preservation=lambda card: 0.85,
        row_check=lambda row: bool(who_points(row)),
        checks=_with_layout(_speaker_at_time),
        variants=lambda row: len(who_points(row)),
    ),
]
