"""Steps over real recorded speech: attach a clip, line up several speakers' clips, mix talkers, cut a
window out of a meeting, ask who talks at a moment, and lay a recorded noise under speech at an exact SNR.

Each step records the audio it wrote as a layout: the source clips it is made of, each with where it
sits in the file, which stretch of the source it is and the gain it got. A recipe check rebuilds the
file from the pool with that layout, independently of the mixing tools.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from state.models import DatasetCard, Row
from tools.licences import licence_terms
from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers
from tools.pure.audio import measure_snr
from tools.pure.audio_io import MAX_TOOL_AUDIO_S, read_wav
from tools.text import norm

MIN_ITEM_S = 0.5  # the verifier refuses shorter audio, so a shorter clip gets leading silence
PAUSE_MS = 1000
MAX_GAIN_DB = 24.0  # the mixing tools' limit; a very quiet clip stays a little quieter
PEAK_DBFS = -6.0  # a levelled clip peaks here at most, so two overlapping never clip
# A meeting window counts a person when they talk at least this long in it; a window where someone
# only grazes it (a cut-off word, a lone "mm") is ambiguous and is not asked about.
MIN_TALK_S = 0.5
WINDOW_S, HOP_S = 10.0, 5.0
SOLO_MIN_S = 1.1  # "who speaks at t": t is the middle of at least this long a stretch with one talker
REF_MIN_S, REF_MAX_S = 1.0, 2.5  # a reference clip of a participant: one talker alone, this long
REF_CLEARANCE_S = 2.0  # and this far from the asked moment, so it does not replay the answer
MAX_POINTS = 8
RECORDED = "recorded"  # real_noise's noise setting: any recording of the noise dataset


@dataclass(frozen=True)
class Clip:
    rel: str  # relative to the pool root
    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def dbfs(self) -> float:
        return 10 * math.log10(float(np.mean(np.square(self.samples, dtype=np.float64))))

    @property
    def peak_db(self) -> float:
        return 20 * math.log10(float(np.max(np.abs(self.samples))))

    def gain_to(self, dbfs: float) -> float:
        """The gain that brings the clip's RMS to `dbfs`, held so its peak stays at PEAK_DBFS or under."""
        return min(MAX_GAIN_DB, dbfs - self.dbfs, PEAK_DBFS - self.peak_db)


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float


def clip(env: StepEnv, row: Row) -> Clip:
    """A row's recording, checked to decode and to hold sound."""
    files = row.media.get("audio") or []
    if not files:
        raise StepError("; ".join(row.problems) or f"row {row.sample_id} has no usable audio")
    try:
        samples, rate = read_wav(env.pool.media_path(files[0]), MAX_TOOL_AUDIO_S)
    except ValueError as exc:  # UnsafeInputError included
        raise StepError(f"{files[0]} cannot be used: {exc}") from None
    if not np.any(samples):
        raise StepError(f"{files[0]} is silent")
    return Clip(files[0], samples, rate)


def speaker(row: Row) -> str:
    return str(row.raw.get("speaker") or "").strip()


def _word(row: Row) -> str:
    answers = row_answers(row)
    return answers[0] if len(answers) == 1 else ""


def layer(row: Row, role: str, at_s: float, duration_s: float, from_s: float = 0.0, gain_db: float = 0.0,
          **extra: Any) -> dict[str, Any]:
    """One source clip's place in an item's audio."""
    return {"role": role, "dataset": row.dataset, "sample_id": row.sample_id, "at_s": round(at_s, 6),
            "from_s": round(from_s, 6), "duration_s": round(duration_s, 6), "gain_db": round(gain_db, 6), **extra}


def credit(draft: Draft, env: StepEnv, extra: list[tuple[DatasetCard, Row]] = ()) -> None:
    """List the source records besides the item's own row and the terms their licences set."""
    sources = draft.metadata.setdefault("sources", [])
    for card, row in extra:
        entry = {"dataset": card.id, "sample_id": row.sample_id, "license": card.license}
        if entry not in sources and (card.id, row.sample_id) != (env.card.id, env.row.sample_id):
            sources.append(entry)
    licences = {env.card.id: env.card.license, **{s["dataset"]: s["license"] for s in sources}}
    terms = {f"{dataset} ({licence}): {note}" for dataset, licence in licences.items()
             if (note := licence_terms(licence))}
    if terms:
        draft.metadata["licence_terms"] = sorted(terms)
    if not sources:
        draft.metadata.pop("sources")


def _span(a: float, b: float) -> str:
    return f"{a:.2f}-{b:.2f} s"


def _cut(draft: Draft, env: StepEnv, source: Clip, spans: list[tuple[float, float]], name: str) -> list[Path]:
    """Disjoint stretches of a pool recording as files in the run, in the order of `spans`."""
    total = len(source.samples)
    frames = [(round(a * source.rate), round(b * source.rate)) for a, b in spans]
    cuts = sorted({f for span in frames for f in span} - {0, total})
    if not cuts:  # the whole recording
        target = env.workspace().output(name)
        shutil.copyfile(env.pool.media_path(source.rel), target)
        return [target]
    result = env.call(draft, "split_audio", {"audio": source.rel, "cuts": [f / source.rate for f in cuts],
                                             "out": name})
    made = {(round(s["start"] * source.rate), round(s["end"] * source.rate)): s["file"]
            for s in result.values["segments"]}
    wanted = [made[span] for span in frames]
    for rel in set(made.values()) - set(wanted):
        (env.store.root / rel).unlink()
    return [env.store.root / rel for rel in wanted]


class AttachAudioParams(BaseModel):
    min_s: float = Field(MIN_ITEM_S, ge=0, le=5, description="Shorter clips get leading silence up to this.")


@register("attach_audio", AttachAudioParams)
def attach_audio(draft: Draft, env: StepEnv, p: AttachAudioParams) -> list[Path]:
    """Copy the row's real recording into the run (checked to decode); pad a very short one with silence."""
    source = clip(env, env.row)
    lead_ms = max(0, math.ceil((p.min_s - source.duration) * 1000))
    name = env.media_name(".wav")
    if lead_ms:
        placed = env.call(draft, "place_sources", {"sources": [{"source": source.rel, "start_ms": lead_ms}],
                                                   "channels": "mono", "out": name})
        target = env.store.root / placed.outputs[0]
    else:
        target = env.workspace().output(env.media_name(env.pool.media_path(source.rel).suffix.lower()))
        shutil.copyfile(env.pool.media_path(source.rel), target)
    draft.audio, draft.modality = [target], "audio"
    draft.metadata.update(source_audio=source.rel,
                          layout=[layer(env.row, "speech", lead_ms / 1000, source.duration)])
    credit(draft, env)
    return [target]


class RealNoiseParams(BaseModel):
    noise: str = Field(RECORDED, description="'recorded' draws a recording; a label picks one (running_tap).")
    snr_db: float = Field(10.0, ge=-10, le=30, description="Speech-to-noise ratio of the mixture in dB.")
    noise_dataset: str = Field("speech-commands-noise", description="Pool dataset of recorded noise.")
    level_dbfs: float = Field(-24.0, ge=-40, le=-12, description="RMS level of the louder of speech and noise.")


@register("real_noise", RealNoiseParams)
def real_noise(draft: Draft, env: StepEnv, p: RealNoiseParams) -> list[Path]:
    """Lay a seeded stretch of a recorded noise under the attached speech at an exact SNR."""
    if not draft.audio or not draft.metadata.get("layout"):
        raise StepError("real_noise needs attached speech: put attach_audio before it")
    try:
        noise_card = env.pool.card(p.noise_dataset)
        rows = [r for r in env.pool.rows(noise_card.id) if r.media.get("audio")]
    except ValueError as exc:
        raise StepError(f"no noise dataset {p.noise_dataset!r}: {exc}; set noise_dataset to a pool dataset") from None
    if norm(p.noise) != RECORDED:
        rows = [r for r in rows if norm(_word(r)) == norm(p.noise)]
    if not rows:
        labels = sorted({_word(r) for r in env.pool.rows(noise_card.id)})
        raise StepError(f"real_noise lays recorded noise, and {p.noise_dataset} has no {p.noise!r} recording; "
                        f"ask for noise 'recorded' or one of {labels} (synthetic noise: dialogue_audio, add_noise)")
    rng = env.rng("real_noise")
    noise_row = rng.choice(rows)
    noise = clip(env, noise_row)
    attached = Clip(env.store.relative(draft.audio[0]), *read_wav(draft.audio[0]))
    speech, rate = attached.samples, attached.rate
    if noise.rate != rate or len(noise.samples) < len(speech):
        raise StepError(f"{noise.rel} ({noise.duration:.1f} s at {noise.rate} Hz) cannot cover "
                        f"{len(speech) / rate:.2f} s of speech at {rate} Hz")
    offset = rng.randrange(len(noise.samples) - len(speech) + 1)
    (cut,) = _cut(draft, env, noise, [(offset / rate, (offset + len(speech)) / rate)], env.media_name(".noise.wav"))
    stretch = Clip(env.store.relative(cut), *read_wav(cut))
    # the louder of the two sits at level_dbfs, both lower if either would peak over PEAK_DBFS
    level = min(p.level_dbfs + min(0.0, p.snr_db), attached.dbfs + attached.gain_to(0.0),
                stretch.dbfs + stretch.gain_to(0.0) + p.snr_db)
    clean = env.call(draft, "change_gain", {"input": env.store.relative(draft.audio[0]), "target_dbfs": level,
                                            "out": env.media_name(".clean.wav")})
    levelled = env.call(draft, "change_gain", {"input": env.store.relative(cut), "target_dbfs": level - p.snr_db,
                                               "out": env.media_name(".noise.wav")})
    cut.unlink()
    clean_path, segment = env.store.root / clean.outputs[0], env.store.root / levelled.outputs[0]
    mixed = env.call(draft, "overlay_audio", {"base": clean.outputs[0], "out": env.media_name(".wav"),
                                              "overlays": [{"source": levelled.outputs[0]}]})
    segment.unlink()
    gain = levelled.values["gain_db"]
    mixture = env.store.root / mixed.outputs[0]
    if draft.audio[0] != mixture:
        draft.audio[0].unlink()
    draft.audio = [mixture]
    speech_layer = draft.metadata["layout"][0]
    speech_layer["gain_db"] = round(speech_layer["gain_db"] + clean.values["gain_db"], 6)
    noise_layer = layer(noise_row, "noise", 0.0, len(speech) / rate, offset / rate, gain, label=_word(noise_row))
    draft.metadata["layout"].append(noise_layer)
    draft.metadata.update(clean_audio=clean.outputs[0], snr_db=p.snr_db, noise=noise_layer,
                          measured_snr_db=round(measure_snr(read_wav(clean_path)[0], read_wav(mixture)[0]), 3))
    credit(draft, env, [(noise_card, noise_row)])
    return [mixture, clean_path]


class LineupParams(BaseModel):
    candidates: int = Field(4, ge=2, le=6)
    pause_ms: int = Field(PAUSE_MS, ge=300, le=3000)


@register("speaker_lineup", LineupParams)
def speaker_lineup(draft: Draft, env: StepEnv, p: LineupParams) -> list[Path]:
    """The row's clip as a reference, then candidate clips that all say one other word: one by the same
    person, the rest by other people, so only the voice tells them apart. One file, clips in sequence."""
    ref_speaker, ref_word = speaker(env.row), _word(env.row)
    if not ref_speaker or not ref_word:
        raise StepError("row has no speaker or no single spoken word")
    rows = [r for r in env.pool.rows(env.card.id)
            if r.sample_id != env.row.sample_id and speaker(r) and _word(r) and r.media.get("audio")]
    rng = env.rng("speaker_lineup")
    words = sorted({_word(r) for r in rows} - {ref_word})
    rng.shuffle(words)
    for word in words:
        same = [r for r in rows if _word(r) == word and speaker(r) == ref_speaker]
        others: dict[str, list[Row]] = {}
        for r in rows:
            if _word(r) == word and speaker(r) != ref_speaker:
                others.setdefault(speaker(r), []).append(r)
        if same and len(others) >= p.candidates - 1:
            break
    else:
        raise StepError(f"{env.card.id} has no word that {ref_speaker} and {p.candidates - 1} other people all say")
    match = rng.choice(same)
    picks = [match] + [rng.choice(others[s]) for s in rng.sample(sorted(others), p.candidates - 1)]
    rng.shuffle(picks)
    clips = [clip(env, r) for r in [env.row, *picks]]
    result = env.call(draft, "concat_audio", {"inputs": [c.rel for c in clips], "gap_ms": p.pause_ms,
                                              "out": env.media_name(".wav")})
    starts = [s["start_s"] for s in result.values["segments"]]
    labels = [f"Clip {i}" for i in range(1, len(picks) + 1)]
    draft.metadata["layout"] = [
        layer(r, role, start, c.duration, speaker=speaker(r))
        for r, role, start, c in zip([env.row, *picks], ["reference", *labels], starts, clips, strict=True)]
    spans = [_span(s, s + c.duration) for s, c in zip(starts, clips, strict=True)]
    listing = ", ".join(f"{label} ({span})" for label, span in zip(labels, spans[1:], strict=True))
    draft.question = (
        f"The recording holds {len(clips)} short clips of one spoken word each, separated by "
        f"{p.pause_ms / 1000:g}-second pauses: first a reference clip ({spans[0]}), then {len(picks)} candidate "
        f"clips that all say the same word: {listing}. Which candidate clip is spoken by the same person as the "
        "reference clip?")
    draft.choices, draft.answer_text = labels, labels[picks.index(match)]
    draft.audio, draft.modality = [env.store.root / result.outputs[0]], "audio"
    credit(draft, env, [(env.card, r) for r in picks])
    return list(draft.audio)


class SpeakerMixParams(BaseModel):
    max_speakers: int = Field(4, ge=2, le=6)
    max_repeats: int = Field(2, ge=0, le=4, description="Extra clips by people already heard, at most.")


@register("speaker_mix", SpeakerMixParams)
def speaker_mix(draft: Draft, env: StepEnv, p: SpeakerMixParams) -> list[Path]:
    """Clips of 1 to max_speakers people (the row's speaker first), some saying several words, one after
    another with pauses or partial overlaps, each at its own level; the question asks how many people."""
    by_speaker: dict[str, list[Row]] = {}
    for r in env.pool.rows(env.card.id):
        if speaker(r) and r.media.get("audio") and r.sample_id != env.row.sample_id:
            by_speaker.setdefault(speaker(r), []).append(r)
    own = speaker(env.row)
    if not own:
        raise StepError("row names no speaker")
    rng = env.rng("speaker_mix")
    others = sorted(set(by_speaker) - {own})
    # one person alone must say at least two words, so they need a second clip
    count = rng.randint(1 if by_speaker.get(own) else 2, min(p.max_speakers, len(others) + 1))
    people = [own, *rng.sample(others, count - 1)]
    rows = [env.row] + [rng.choice(by_speaker[s]) for s in people[1:]]
    least = 1 if count == 1 else 0
    repeats = rng.randint(least, max(least, p.max_repeats))
    for _ in range(repeats):
        spare = [r for s in people for r in by_speaker.get(s, []) if r not in rows]
        if spare:
            rows.append(rng.choice(spare))
    rng.shuffle(rows)
    clips = [clip(env, r) for r in rows]
    sources, layout, start = [], [], 0.0
    for i, (r, c) in enumerate(zip(rows, clips, strict=True)):
        start_ms = round(start * 1000)
        gain = c.gain_to(rng.uniform(-28.0, -20.0))
        sources.append({"source": c.rel, "start_ms": start_ms, "gain_db": gain})
        layout.append(layer(r, "speech", start_ms / 1000, c.duration, gain_db=gain, speaker=speaker(r)))
        same_next = i + 1 < len(rows) and speaker(rows[i + 1]) == speaker(r)
        # one person never overlaps themself; two people may, by at most half the earlier clip
        gap = rng.uniform(0.15, 0.5) if same_next else rng.uniform(-0.5 * c.duration, 0.5)
        start = start_ms / 1000 + c.duration + gap
    result = env.call(draft, "place_sources", {"sources": sources, "channels": "mono", "out": env.media_name(".wav")})
    draft.metadata["layout"] = layout
    draft.question = ("How many different people speak in this recording? Each says one or more single words; "
                      "some words overlap.")
    draft.choices, draft.answer_text = [str(n) for n in range(1, p.max_speakers + 1)], str(count)
    draft.audio, draft.modality = [env.store.root / result.outputs[0]], "audio"
    credit(draft, env, [(env.card, r) for r in rows])
    return list(draft.audio)


def turns(row: Row) -> list[Turn]:
    """The row's annotated speaker turns (raw `speaker_turns`), empty when it has none."""
    raw = row.raw.get("speaker_turns")
    if not isinstance(raw, list):
        return []
    try:
        return [Turn(str(t["speaker"]), float(t["start"]), float(t["end"])) for t in raw if t["end"] > t["start"]]
    except (KeyError, TypeError, ValueError):
        return []


def recording_s(row: Row) -> float:
    """How long the annotated recording is: its stated duration, else its last turn's end."""
    stated = row.raw.get("duration_s")
    return float(stated) if isinstance(stated, int | float) else max((t.end for t in turns(row)), default=0.0)


def talk_time(row_turns: list[Turn], who: str, a: float, b: float) -> float:
    """Seconds `who` talks within [a, b]: the union of their turns, clipped to the window."""
    spans = sorted((max(a, t.start), min(b, t.end)) for t in row_turns if t.speaker == who)
    total, reach = 0.0, a
    for s, e in spans:
        if e > max(s, reach):
            total += e - max(s, reach)
        reach = max(reach, e)
    return total


def count_windows(row: Row) -> list[tuple[float, float]]:
    """Windows of a meeting recording (the whole, then WINDOW_S slices every HOP_S) where each person
    either talks at least MIN_TALK_S or not at all, so the count of talkers is not in doubt."""
    row_turns, length = turns(row), recording_s(row)
    people = {t.speaker for t in row_turns}
    if len(people) < 2:
        return []
    spans = [(0.0, length)] + [(k * HOP_S, k * HOP_S + WINDOW_S)
                               for k in range(int((length - WINDOW_S) // HOP_S) + 1) if WINDOW_S < length]
    kept = []
    for a, b in spans:
        talk = [talk_time(row_turns, who, a, b) for who in people]
        if any(talk) and all(t == 0 or t >= MIN_TALK_S for t in talk):
            kept.append((round(a, 3), round(b, 3)))
    return kept


def solo_stretches(row_turns: list[Turn], length: float) -> list[Turn]:
    """Maximal stretches where exactly one person talks."""
    edges = sorted({0.0, length, *(x for t in row_turns for x in (t.start, t.end))})
    out: list[Turn] = []
    for a, b in zip(edges, edges[1:], strict=False):
        active = {t.speaker for t in row_turns if t.start < b and t.end > a}
        if len(active) != 1:
            continue
        (who,) = active
        if out and out[-1].speaker == who and out[-1].end == a:
            out[-1] = Turn(who, out[-1].start, b)
        else:
            out.append(Turn(who, a, b))
    return out


@dataclass(frozen=True)
class WhoPoint:
    time_s: float
    speaker: str
    references: tuple[Turn, ...]  # one solo stretch per participant with one, away from time_s


def who_points(row: Row) -> list[WhoPoint]:
    """Moments with one talker, each with a reference clip of every participant that has one (the talker
    among them); at most MAX_POINTS, spread over the recording."""
    row_turns, length = turns(row), recording_s(row)
    solos = solo_stretches(row_turns, length)
    points = []
    for stretch in solos:
        if stretch.end - stretch.start < SOLO_MIN_S:
            continue
        t = round((stretch.start + stretch.end) / 2, 1)
        refs = []
        for who in sorted({s.speaker for s in solos}):
            pieces = [p for s in solos if s.speaker == who for p in _away(s, t)]
            longest = max(pieces, key=lambda s: s.end - s.start, default=None)
            if longest is not None and longest.end - longest.start >= REF_MIN_S:
                mid, half = (longest.start + longest.end) / 2, min(REF_MAX_S, longest.end - longest.start) / 2
                refs.append(Turn(who, round(mid - half, 3), round(mid + half, 3)))
        if len(refs) >= 2 and stretch.speaker in {r.speaker for r in refs}:
            points.append(WhoPoint(t, stretch.speaker, tuple(refs)))
    step = max(1, math.ceil(len(points) / MAX_POINTS))
    return points[::step]


def _away(stretch: Turn, t: float) -> list[Turn]:
    """The parts of a stretch at least REF_CLEARANCE_S from t (shrunk a little so cuts stay inside it)."""
    a, b = stretch.start + 0.05, stretch.end - 0.05
    parts = [(a, min(b, t - REF_CLEARANCE_S)), (max(a, t + REF_CLEARANCE_S), b)]
    return [Turn(stretch.speaker, x, y) for x, y in parts if y > x]


def _meeting(env: StepEnv, points: int) -> Clip:
    if env.variant >= points:
        raise StepError(f"row {env.row.sample_id} yields {points} items; variant {env.variant} does not exist")
    return clip(env, env.row)


class MeetingCountParams(BaseModel):
    max_count: int = Field(4, ge=2, le=8, description="Options run from 1 to this (or the count, if higher).")


@register("meeting_count", MeetingCountParams)
def meeting_count(draft: Draft, env: StepEnv, p: MeetingCountParams) -> list[Path]:
    """One window of a real meeting recording (the variant picks which); how many people talk in it."""
    windows = count_windows(env.row)
    recording = _meeting(env, len(windows))
    a, b = windows[env.variant]
    b = min(b, recording.duration)
    row_turns = turns(env.row)
    people = sorted(w for w in {t.speaker for t in row_turns} if talk_time(row_turns, w, a, b) > 0)
    (target,) = _cut(draft, env, recording, [(a, b)], env.media_name(".wav"))
    draft.metadata.update(window_s=[a, b], layout=[layer(env.row, "meeting", 0.0, b - a, a)], speakers=people)
    whole = (a, b) == (0.0, recording.duration)
    where = "" if whole else f" (it is {b - a:g} s cut from a longer meeting, starting at {a:g} s)"
    draft.question = f"How many different people speak in this recording{where}?"
    draft.choices = [str(n) for n in range(1, max(p.max_count, len(people)) + 1)]
    draft.answer_text = str(len(people))
    draft.audio, draft.modality = [target], "audio"
    credit(draft, env)
    return [target]


class MeetingWhoParams(BaseModel):
    pause_ms: int = Field(PAUSE_MS, ge=300, le=3000)


@register("meeting_who", MeetingWhoParams)
def meeting_who(draft: Draft, env: StepEnv, p: MeetingWhoParams) -> list[Path]:
    """A meeting recording followed by a reference clip of each participant (cut from their solo talk
    elsewhere in it); who is talking at one moment (the variant picks which)."""
    points = who_points(env.row)
    recording = _meeting(env, len(points))
    point = points[env.variant]
    refs = list(point.references)
    env.rng("meeting_who").shuffle(refs)
    files = _cut(draft, env, recording, [(r.start, r.end) for r in refs], env.media_name(".ref.wav"))
    result = env.call(draft, "concat_audio", {"inputs": [recording.rel, *(env.store.relative(f) for f in files)],
                                              "gap_ms": p.pause_ms, "out": env.media_name(".wav")})
    for f in files:
        f.unlink()
    starts = [s["start_s"] for s in result.values["segments"]]
    labels = [f"Speaker {chr(ord('A') + i)}" for i in range(len(refs))]
    draft.metadata.update(time_s=point.time_s, layout=[
        layer(env.row, "meeting", 0.0, recording.duration),
        *(layer(env.row, label, start, r.end - r.start, r.start, speaker=r.speaker)
          for label, start, r in zip(labels, starts[1:], refs, strict=True))])
    listing = ", ".join(f"{label} ({_span(s, s + r.end - r.start)})"
                        for label, s, r in zip(labels, starts[1:], refs, strict=True))
    draft.question = (
        f"The recording is a meeting excerpt ({_span(0, recording.duration)}) followed, after "
        f"{p.pause_ms / 1000:g}-second pauses, by a short reference clip of each of {len(refs)} participants: "
        f"{listing}. Which of them is speaking in the meeting excerpt at {point.time_s:.1f} s?")
    draft.choices = labels
    draft.answer_text = labels[[r.speaker for r in refs].index(point.speaker)]
    draft.audio, draft.modality = [env.store.root / result.outputs[0]], "audio"
    credit(draft, env)
    return list(draft.audio)
