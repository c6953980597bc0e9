"""Overlapping speech from written dialogues: speaker counting and following the speaker who starts second,
built through the executor and judged by the offline verifier and the recipes' own checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import GB_MINI, cli, items, needs_gb_mini, realise_item, write_dataset

from agents.design import OfflineDesigner
from state.models import Item
from tools.plans.recipes import RECIPES
from tools.plans.steps import StepError
from tools.pool import DEMO_POOL, Pool
from tools.pure.audio_io import read_wav
from tools.pure.speech import espeak_available

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
GB_DIALOGUES = "nlp-multi-turn-daily-dialogue-generation"


def recheck(item: Item, pool: Pool, run: Path) -> dict[str, bool]:
    """The recipe's own checks on a (possibly corrupted) item: name -> passed."""
    row = pool.row(item.source.dataset, item.source.sample_id)
    return {c.name: c.passed for c in RECIPES[item.plan.recipe].checks(item, row, pool, run)}


@needs_espeak
@pytest.mark.parametrize("sample_id", ["dlg_000", "dlg_007"])
def test_speaker_count_is_the_dialogue_speakers_plus_each_interjection(tmp_path: Path, sample_id: str) -> None:
    pool = Pool(DEMO_POOL, cache_dir=tmp_path / "cache")
    item, verdict = realise_item(pool, "daily-dialogues", "overlap-speaker-count", sample_id, tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    base, *extra = item.metadata["mix"]
    spoken = pool.row("daily-dialogues", sample_id).values["dialogue"][:3]
    assert (base["sample_id"], base["turns"], base["offset_s"]) == (sample_id, [0, 1, 2], 0)
    assert base["script"] == [t["text"] for t in spoken]
    # Every interjection is a line of another dialogue, starting while the dialogue is spoken.
    assert 1 <= len(extra) <= 3 and all(0 < s["offset_s"] < base["duration_s"] for s in extra)
    assert {s["sample_id"] for s in extra} == {s["sample_id"] for s in item.metadata["sources"]}
    assert item.answer_text == str(len({t["speaker"] for t in spoken}) + len(extra))
    assert item.answer_text in item.choices and item.modality == "audio"
    samples, rate = read_wav(tmp_path / "run" / item.audio[0])
    assert len(samples) / rate == pytest.approx(max(s["offset_s"] + s["duration_s"] for s in item.metadata["mix"]),
                                                abs=0.002)
    assert sorted(p.name for p in (tmp_path / "run" / "media").iterdir()) == [Path(item.audio[0]).name]


@needs_espeak
def test_a_wrong_count_or_a_misrecorded_mix_fails_the_recipe_checks(tmp_path: Path) -> None:
    pool = Pool(DEMO_POOL, cache_dir=tmp_path / "cache")
    item, verdict = realise_item(pool, "daily-dialogues", "overlap-speaker-count", "dlg_003", tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    wrong = next(c for c in item.choices if c != item.answer_text)
    assert recheck(item.model_copy(update={"answer_text": wrong}), pool, tmp_path / "run")["speaker_count"] is False
    # A source left out of the record: the energy of the mixture no longer adds up.
    dropped = item.model_copy(deep=True)
    dropped.metadata["mix"].pop()
    assert recheck(dropped, pool, tmp_path / "run")["mix_timing"] is False
    # A script that is not what the row says.
    edited = item.model_copy(deep=True)
    edited.metadata["mix"][0]["script"][1] = "Something nobody in the dialogue said."
    assert recheck(edited, pool, tmp_path / "run")["mix_scripts"] is False
    # An interjection recorded as starting after everything else has stopped.
    late = item.model_copy(deep=True)
    late.metadata["mix"][1]["offset_s"] = 60.0
    assert recheck(late, pool, tmp_path / "run")["mix_timing"] is False


@needs_espeak
@pytest.mark.parametrize("sample_id", ["dlg_001", "dlg_010"])
def test_target_speaker_answer_is_the_line_that_starts_second(tmp_path: Path, sample_id: str) -> None:
    pool = Pool(DEMO_POOL, cache_dir=tmp_path / "cache")
    item, verdict = realise_item(pool, "daily-dialogues", "overlap-target-speaker", sample_id, tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    mix = sorted(item.metadata["mix"], key=lambda s: s["offset_s"])
    onsets = [s["offset_s"] for s in mix]
    assert len(mix) == 3 and all(b - a >= 0.4 for a, b in zip(onsets, onsets[1:]))
    assert all(b["offset_s"] < a["offset_s"] + a["duration_s"] for a, b in zip(mix, mix[1:]))  # they overlap
    second = mix[1]
    line = pool.row("daily-dialogues", second["sample_id"]).values["dialogue"][second["turns"][0]]["text"]
    assert second["sample_id"] == sample_id and item.answer_text == line
    unheard = item.metadata["unheard"]
    not_heard = pool.row("daily-dialogues", unheard["sample_id"]).values["dialogue"][unheard["turn"]]["text"]
    assert sorted(item.choices) == sorted([s["script"][0] for s in mix] + [not_heard])
    assert len({v for s in mix for v in s["voices"]}) == 3


@needs_espeak
def test_answering_another_speaker_or_swapping_onsets_fails_the_target_check(tmp_path: Path) -> None:
    pool = Pool(DEMO_POOL, cache_dir=tmp_path / "cache")
    item, verdict = realise_item(pool, "daily-dialogues", "overlap-target-speaker", "dlg_002", tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    first = min(item.metadata["mix"], key=lambda s: s["offset_s"])["script"][0]
    assert recheck(item.model_copy(update={"answer_text": first}), pool, tmp_path / "run")["target_speaker"] is False
    swapped = item.model_copy(deep=True)
    a, b = sorted(swapped.metadata["mix"], key=lambda s: s["offset_s"])[:2]
    a["offset_s"], b["offset_s"] = b["offset_s"], a["offset_s"]
    assert recheck(swapped, pool, tmp_path / "run")["target_speaker"] is False


@needs_espeak
@needs_gb_mini
@pytest.mark.parametrize("recipe_id", ["overlap-speaker-count", "overlap-target-speaker"])
def test_general_bench_dialogues_overlap_one_person_per_line(tmp_path: Path, recipe_id: str) -> None:
    pool = Pool(GB_MINI, cache_dir=tmp_path / "cache")
    recipe = RECIPES[recipe_id]
    assert recipe.misfit(pool.card(GB_DIALOGUES)) is None
    row = next(r for r in pool.rows(GB_DIALOGUES) if recipe.usable(r))
    item, verdict = realise_item(pool, GB_DIALOGUES, recipe_id, row.sample_id, tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    # That dataset does not say who speaks each turn: every source is one line by one person.
    mix = item.metadata["mix"]
    assert all(len(s["turns"]) == 1 for s in mix) and len({s["sample_id"] for s in mix}) == len(mix)
    assert len({s["voices"][0] for s in mix}) == len(mix)
    if recipe_id == "overlap-speaker-count":
        assert item.answer_text == str(len(mix))


def test_rows_without_usable_lines_or_enough_other_dialogues_are_refused(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    write_dataset(pool_dir, "chats", [
        {"id": "c0", "dialogue": [{"speaker": "A", "text": "Could you pass me the salt, please?"},
                                  {"speaker": "B", "text": "Of course, here you are, it is right here."}],
         "response": "Thanks."},
        {"id": "c1", "dialogue": ["Hi.", "Hello there."], "response": "Yes."},
    ], card={"roles": {"id": "id", "dialogue": "dialogue", "answer": "response"}})
    pool = Pool(pool_dir, cache_dir=tmp_path / "cache")
    # Unnamed speakers and no line long enough to follow: neither recipe can use the row.
    assert not any(RECIPES[r].usable(pool.row("chats", "c1")) for r in ("overlap-speaker-count",
                                                                       "overlap-target-speaker"))
    with pytest.raises(StepError, match="no dialogue line of 5-20 words"):
        realise_item(pool, "chats", "overlap-target-speaker", "c1", tmp_path / "run")
    with pytest.raises(StepError, match="too few other dialogues"):
        realise_item(pool, "chats", "overlap-target-speaker", "c0", tmp_path / "run")


def test_the_offline_designer_picks_the_overlap_recipes() -> None:
    designer = OfflineDesigner()
    assert [s.recipe for s in designer.propose("count how many people are speaking in overlapping speech")] == [
        "overlap-speaker-count"]
    assert [s.recipe for s in designer.propose("follow a target speaker in crowded audio")] == [
        "overlap-target-speaker"]


@pytest.mark.slow
@needs_espeak
def test_cli_builds_overlapping_speech_items(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("build", "count how many people are speaking in overlapping spoken daily dialogues", "--size", "3",
               "--out", str(out), "--no-speech-check")
    built = items(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert built and {i["plan"]["recipe"] for i in built} == {"overlap-speaker-count"}
    assert all(i["answer_text"] in i["choices"] and i["audio"] for i in built)
