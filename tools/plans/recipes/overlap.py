"""Recipes over written dialogues rendered as overlapping speech: count the speakers, follow a target.

Their checks never trust the step: scripts and speakers are read again from the pool rows the mix
names, the answer is re-derived from those rows and the recorded offsets, and the written mixture is
measured against the recorded durations, offsets and levels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from state.models import Check, Item, Row, Step
from tools.plans.recipes.core import Recipe
from tools.plans.steps.overlap import (
    MIN_ONSET_GAP_S,
    CountParams,
    TargetParams,
    attributed,
    dialogue_turns,
    line_turns,
    spoken,
)
from tools.pool import Pool, PoolError
from tools.pure.audio_io import read_wav
from tools.text import norm

DURATION_TOLERANCE_S = 0.002
_COUNT, _TARGET = CountParams(), TargetParams()
# Independent speakers add in power; what they share in an overlap moves the sum a little (measured within
# 0.15 dB), while leaving out even the shortest source lowers it by 0.5 dB or more.
ENERGY_TOLERANCE_DB = 0.3


def _rows(item: Item, pool: Pool) -> tuple[list[Row], str]:
    """The pool row behind each source of the mix, or the reason one cannot be read."""
    try:
        return [pool.row(s["dataset"], s["sample_id"]) for s in item.metadata["mix"]], ""
    except (PoolError, KeyError, TypeError) as exc:
        return [], f"mix names a source the pool cannot give: {exc}"


def _script_check(item: Item, rows: list[Row]) -> Check:
    """Each source spoke exactly the rows' turns it names, by their speakers."""
    for source, row in zip(item.metadata["mix"], rows):
        turns = dialogue_turns(row)
        if any(not 0 <= i < len(turns) for i in source["turns"]):
            return Check(name="mix_scripts", passed=False, detail=f"{row.sample_id} has no turn {source['turns']}")
        said = [(turns[i].get("speaker"), spoken(turns[i]["text"])) for i in source["turns"]]
        if said != list(zip(source["speakers"], source["script"])):
            return Check(name="mix_scripts", passed=False, detail=f"{row.sample_id} turns differ from the script")
    return Check(name="mix_scripts", passed=True, detail=f"{len(rows)} sources")


def _timing_check(item: Item, root: Path) -> Check:
    """The mixture lasts until the last source ends, each later source starts while another is still
    spoken, and its energy is the sum of the sources' recorded levels over their durations."""
    mix = sorted(item.metadata["mix"], key=lambda s: s["offset_s"])
    samples, rate = read_wav(root / item.audio[0])
    end = max(s["offset_s"] + s["duration_s"] for s in mix)
    if abs(len(samples) / rate - end) > DURATION_TOLERANCE_S:
        return Check(name="mix_timing", passed=False,
                     detail=f"mixture lasts {len(samples) / rate:.3f} s, sources end at {end:.3f} s")
    alone = [s["sample_id"] for k, s in enumerate(mix[1:], 1)
             if not any(o["offset_s"] < s["offset_s"] < o["offset_s"] + o["duration_s"] for o in mix[:k])]
    if alone:
        return Check(name="mix_timing", passed=False, detail=f"{alone} overlap no earlier source")
    expected = sum(s["duration_s"] * rate * 10 ** ((s["level_dbfs"] + s["gain_db"]) / 10) for s in mix)
    measured = float(np.sum(np.square(samples, dtype=np.float64)))
    error = 10 * math.log10(max(measured, 1e-12) / expected)
    return Check(name="mix_timing", passed=abs(error) <= ENERGY_TOLERANCE_DB,
                 detail=f"{len(mix)} sources end at {end:.2f} s; energy {error:+.2f} dB from the recorded levels")


def _checks(derive):
    """The shared script and timing checks, then `derive(item, rows)`: the recipe's answer check."""

    def checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
        if not item.metadata.get("mix") or not item.audio:
            return [Check(name="mix_scripts", passed=False, detail="item records no mix")]
        rows, problem = _rows(item, pool)
        if problem:
            return [Check(name="mix_scripts", passed=False, detail=problem)]
        return [_script_check(item, rows), _timing_check(item, root), derive(item, rows)]

    return checks


def _count_check(item: Item, rows: list[Row]) -> Check:
    """People = one per single line, and the distinct named speakers of the rows' turns for a stretch of
    dialogue (unnamed ones cannot be counted); each person needs a voice of their own."""
    people = 0
    for source, row in zip(item.metadata["mix"], rows):
        named = [dialogue_turns(row)[i].get("speaker") for i in source["turns"]]
        if len(named) > 1 and not all(named):
            return Check(name="speaker_count", passed=False, detail=f"{row.sample_id} does not name its speakers")
        people += len(set(named))
    voices = len({v for s in item.metadata["mix"] for v in s["voices"]})
    return Check(name="speaker_count", passed=item.answer_text == str(people) == str(voices),
                 detail=f"rows give {people} people, {voices} voices, answer {item.answer_text}")


def _target_check(item: Item, rows: list[Row]) -> Check:
    """The answer is the rows' line of the source that starts second, its onset apart from its neighbours',
    and every option is a line heard in the mix or the recorded unheard one."""
    order = sorted(zip(item.metadata["mix"], rows), key=lambda sr: sr[0]["offset_s"])
    onsets = [s["offset_s"] for s, _ in order]
    if len(order) < 2 or min(b - a for a, b in zip(onsets, onsets[1:])) < MIN_ONSET_GAP_S - 1e-6:
        return Check(name="target_speaker", passed=False, detail=f"onsets {onsets} are not {MIN_ONSET_GAP_S} s apart")
    second, row = order[1]
    truth = spoken(dialogue_turns(row)[second["turns"][0]]["text"])
    heard = {norm(dialogue_turns(r)[i]["text"]) for s, r in order for i in s["turns"]}
    unheard = sum(norm(c) not in heard for c in item.choices or [])
    return Check(name="target_speaker", passed=norm(item.answer_text) == norm(truth) and unheard <= 1,
                 detail=f"second speaker says {truth!r}; {unheard} option(s) not heard")


RECIPES: list[Recipe] = [
    Recipe(
        id="overlap-speaker-count",
        title="Counting speakers in overlapping speech",
        description="A written dialogue is spoken with one voice per speaker while lines from other "
        "dialogues, each in a voice of its own, start over it; the item asks how many different people speak.",
        modality="audio",
        skill_in_steps=True,
        keywords=("count", "counting", "many", "number", "people", "speaking", "speakers", "overlap",
                  "overlapping", "simultaneous", "crowd", "crowded", "cocktail", "diarization", "talking"),
        roles=("dialogue",),
        answer_kinds=(),
        steps=lambda card: [Step(tool="overlap_count")],
        row_check=lambda row: attributed(row) or bool(line_turns(row, _COUNT.min_words, _COUNT.max_words)),
        checks=_checks(_count_check),
        preservation=lambda card: 0.8,
    ),
    Recipe(
        id="overlap-target-speaker",
        title="Following a target speaker in overlapping speech",
        description="Lines from several dialogues, each by its own voice, start one after another and "
        "overlap; the item asks what the person who starts second says, against the other lines heard "
        "and one that is not.",
        modality="audio",
        skill_in_steps=True,
        keywords=("follow", "following", "target", "speaker", "crowd", "crowded", "cocktail", "party",
                  "overlap", "overlapping", "simultaneous", "attend", "attention", "selective", "second",
                  "separation", "talking"),
        roles=("dialogue",),
        answer_kinds=(),
        steps=lambda card: [Step(tool="overlap_target")],
        row_check=lambda row: bool(line_turns(row, _TARGET.min_words, _TARGET.max_words)),
        checks=_checks(_target_check),
        preservation=lambda card: 0.8,
    ),
]
