"""Steps that render lines from written dialogues and mix them so the speech overlaps.

Every source is rendered with speak_dialogue, brought to one loudness with change_gain and placed with
place_sources; the step records, per source, the rows and turns it spoke, the voices, its offset,
duration and gains under metadata["mix"], so the recipe's checks can re-derive the answer from the
source rows and the mixing parameters alone.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from state.models import Row
from tools.plans.steps.core import Draft, StepEnv, StepError, register
from tools.pure.speech import VOICES
from tools.quality.item_checks import mentioned_media
from tools.text import norm

MIN_ONSET_GAP_S = 0.4  # closer onsets than this cannot be told apart by ear


def spoken(text: object) -> str:
    """A turn's text as speak_dialogue speaks it (whitespace collapsed)."""
    return " ".join(str(text).split())


def dialogue_turns(row: Row) -> list[dict]:
    turns = row.values.get("dialogue")
    return turns if isinstance(turns, list) else []


def attributed(row: Row) -> bool:
    """Whether the row is a dialogue of two or more turns, each with its speaker and text; without the
    speakers nobody can say how many people talk."""
    turns = dialogue_turns(row)
    return len(turns) >= 2 and all(isinstance(t, dict) and t.get("speaker") and t.get("text") for t in turns)


def line_turns(row: Row, min_words: int, max_words: int) -> list[int]:
    """Indices of the row's turns short enough to overlap with others and long enough to follow; a line
    that speaks of a picture ("is this a photo of...") would make an audio item claim an image."""
    texts = [str(t.get("text", "")) for t in dialogue_turns(row)]
    return [i for i, text in enumerate(texts)
            if min_words <= len(text.split()) <= max_words and not mentioned_media(text) - {"audio"}]


class OverlapParams(BaseModel):
    level_dbfs: float = Field(-28.0, ge=-40, le=-12, description="RMS level every source is brought to.")
    min_words: int = Field(5, ge=1, le=40, description="Shortest line a speaker may say.")
    max_words: int = Field(20, ge=3, le=60, description="Longest line a speaker may say.")
    pause_ms: int = Field(300, ge=0, le=2000, description="Silence between the turns of a rendered dialogue.")


class _Scene:
    """The sources of one item as they are rendered; `mix` writes the mixture and the metadata."""

    def __init__(self, draft: Draft, env: StepEnv, p: OverlapParams) -> None:
        self.draft, self.env, self.p = draft, env, p
        self.rng = env.rng(f"overlap:{draft.metadata.get('repair', 0)}")
        self.voices = [v.spec for v in self.rng.sample(VOICES, len(VOICES))]  # a fresh voice per person
        self.sources: list[dict[str, Any]] = []
        self.files: list[str] = []

    def add(self, row: Row, turns: list[int]) -> dict[str, Any]:
        """Render `turns` of `row` with a voice no other person in the scene has: one per named speaker of
        a stretch of dialogue, one for a single line (whoever the source says speaks it)."""
        chosen = [dialogue_turns(row)[i] for i in turns]
        keys = [str(t["speaker"]) for t in chosen] if len(chosen) > 1 else ["speaker"]
        people = list(dict.fromkeys(keys))
        if len(people) > len(self.voices):
            raise StepError(f"the scene needs more than the {len(VOICES)} distinct voices")
        voices = {key: self.voices.pop(0) for key in people}
        k = len(self.sources)
        speech = self.env.call(self.draft, "speak_dialogue", {
            "turns": [{"speaker": key, "text": str(t["text"])} for key, t in zip(keys, chosen)], "voices": voices,
            "pause_ms": self.p.pause_ms, "out": self.env.media_name(f".src{k}.speech.wav")})
        level = self.env.call(self.draft, "change_gain", {"input": speech.outputs[0], "target_dbfs": self.p.level_dbfs,
                                                          "out": self.env.media_name(f".src{k}.wav")})
        self.files += [speech.outputs[0], level.outputs[0]]
        source = {"dataset": row.dataset, "sample_id": row.sample_id, "turns": turns,
                  "speakers": [t.get("speaker") for t in chosen], "voices": [voices[key] for key in keys],
                  "script": [t["text"] for t in speech.values["turns"]],
                  "duration_s": level.values["duration_s"], "level_dbfs": level.values["dbfs_after"],
                  "normalise_gain_db": level.values["gain_db"], "gain_db": 0.0, "offset_ms": 0,
                  "file": level.outputs[0]}
        self.sources.append(source)
        return source

    def chain(self, lines: list[tuple[Row, int]]) -> None:
        """One person per line, each starting while the one before still speaks, onsets apart enough to
        hear who started when."""
        onset = 0.0
        for row, i in lines:
            source = self.add(row, [i])
            if len(self.sources) > 1:
                previous = self.sources[-2]
                onset += max(MIN_ONSET_GAP_S, previous["duration_s"] * self.rng.uniform(0.3, 0.5))
                if onset >= previous["offset_ms"] / 1000 + previous["duration_s"]:
                    raise StepError("a line is too short for the next one to start while it is spoken")
            source["offset_ms"] = round(1000 * onset)

    def mix(self) -> list[Path]:
        """Place every source at its offset, keep the mixture, drop the separate renders."""
        final = self.env.media_name(".wav")
        self.env.call(self.draft, "place_sources", {
            "sources": [{"source": s.pop("file"), "start_ms": s["offset_ms"], "gain_db": s["gain_db"]}
                        for s in self.sources],
            "channels": "mono", "out": final})
        for rel in self.files:
            (self.env.store.root / rel).unlink(missing_ok=True)
        for s in self.sources:
            s["offset_s"] = s.pop("offset_ms") / 1000
        path = self.env.store.root / "media" / final
        self.draft.audio, self.draft.modality = [path], "audio"
        self.draft.metadata["mix"] = self.sources
        others = list(dict.fromkeys(s["sample_id"] for s in self.sources if s["sample_id"] != self.env.row.sample_id))
        self.draft.metadata["sources"] = [{"dataset": self.env.card.id, "sample_id": sid,
                                           "license": self.env.card.license} for sid in others]
        return [path]


def _other_lines(env: StepEnv, rng: random.Random, n: int, p: OverlapParams, avoid: set[str]) -> list[tuple[Row, int]]:
    """`n` lines from distinct other dialogues of the dataset, none repeating a text in `avoid`."""
    rows = [r for r in env.pool.rows(env.card.id) if r.sample_id != env.row.sample_id]
    rng.shuffle(rows)
    picked: list[tuple[Row, int]] = []
    for row in rows:
        turns = [i for i in line_turns(row, p.min_words, p.max_words)
                 if norm(dialogue_turns(row)[i]["text"]) not in avoid]
        if turns:
            i = rng.choice(turns)
            avoid.add(norm(dialogue_turns(row)[i]["text"]))
            picked.append((row, i))
        if len(picked) == n:
            return picked
    raise StepError(f"{env.card.id} has too few other dialogues with a line of {p.min_words}-{p.max_words} words")


def _own_line(env: StepEnv, rng: random.Random, p: OverlapParams) -> int:
    own = line_turns(env.row, p.min_words, p.max_words)
    if not own:
        raise StepError(f"row has no dialogue line of {p.min_words}-{p.max_words} words")
    return rng.choice(own)


class CountParams(OverlapParams):
    dialogue_turns: int = Field(3, ge=2, le=8, description="Turns of a dialogue that names its speakers spoken.")
    max_extra: int = Field(3, ge=1, le=4, description="Most people from other dialogues talking over it.")


@register("overlap_count", CountParams)
def overlap_count(draft: Draft, env: StepEnv, p: CountParams) -> list[Path]:
    """The item asks how many different people speak. A dialogue that names its speakers is spoken with a
    voice per speaker while 1..max_extra lines from other dialogues start over it, each by a new person;
    a dialogue that does not is reduced to one of its lines, chained with lines of other dialogues."""
    scene = _Scene(draft, env, p)
    extra = scene.rng.randint(1, p.max_extra)
    if attributed(env.row):
        base = scene.add(env.row, list(range(min(p.dialogue_turns, len(dialogue_turns(env.row))))))
        for row, i in _other_lines(env, scene.rng, extra, p, {norm(t) for t in base["script"]}):
            # Each interjection starts while the dialogue is still going, so it overlaps it.
            scene.add(row, [i])["offset_ms"] = round(1000 * base["duration_s"] * scene.rng.uniform(0.15, 0.7))
    else:
        own = _own_line(env, scene.rng, p)
        avoid = {norm(dialogue_turns(env.row)[own]["text"])}
        scene.chain([(env.row, own), *_other_lines(env, scene.rng, extra, p, avoid)])
    outputs = scene.mix()
    count = sum(len(set(s["voices"])) for s in scene.sources)
    low = max(1, count - scene.rng.randrange(4))
    draft.question = "Several people talk over each other in this recording. How many different people speak?"
    draft.choices, draft.answer_text = [str(n) for n in range(low, low + 4)], str(count)
    return outputs


class TargetParams(OverlapParams):
    speakers: int = Field(3, ge=2, le=4, description="People talking at once, each saying one line.")


@register("overlap_target", TargetParams)
def overlap_target(draft: Draft, env: StepEnv, p: TargetParams) -> list[Path]:
    """One line of the row and lines of other dialogues, each by its own person, starting one after another
    while the previous one still talks; the item asks what the person who starts second says. Options are
    every line heard plus one line from a dialogue that is not heard."""
    scene = _Scene(draft, env, p)
    target = _own_line(env, scene.rng, p)
    others = _other_lines(env, scene.rng, p.speakers, p, {norm(dialogue_turns(env.row)[target]["text"])})
    order = [*others[:1], (env.row, target), *others[1 : p.speakers - 1]]  # the last other line is not heard
    scene.chain(order)
    outputs = scene.mix()
    unheard_row, unheard_turn = others[-1]
    draft.metadata["sources"].append({"dataset": env.card.id, "sample_id": unheard_row.sample_id,
                                      "license": env.card.license})
    draft.metadata["unheard"] = {"sample_id": unheard_row.sample_id, "turn": unheard_turn}
    choices = [spoken(dialogue_turns(r)[i]["text"]) for r, i in [*order, others[-1]]]
    scene.rng.shuffle(choices)
    draft.question = (f"{len(order)} people start talking one after another and speak over each other. "
                      "What does the person who starts talking second say?")
    draft.choices, draft.answer_text = choices, spoken(dialogue_turns(env.row)[target]["text"])
    return outputs
