"""The verifier's speech round trip: rendered speech must be heard saying its own script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from state.models import Item, Source, TransformPlan
from tools.pure.audio_io import write_wav
from tools.pure.speech import espeak_available, render_dialogue
from tools.quality import speech_check as module
from tools.quality.speech_check import SPEECH_WER_THRESHOLDS, speech_check

TURNS = [{"speaker": "Ana", "text": "Did you remember to buy milk on your way home from work today?"},
         {"speaker": "Ben", "text": "No, I forgot. The shop was already closed when I got there."}]
DECOY = "The weather in the mountains turned cold and the climbers returned to their camp early."

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


def _item(turns: list[dict]) -> Item:
    return Item(id="x", subtask="s", question="q q q", answer="A", answer_text="a", modality="audio",
                source=Source(dataset="d", sample_id="1"), plan=TransformPlan(recipe="r", dataset="d"),
                metadata={"turns": turns})


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    samples, turns = render_dialogue(TURNS)
    path = tmp_path_factory.mktemp("speech") / "d.wav"
    write_wav(path, samples, 16000)
    return path, turns


def test_rendered_speech_matches_its_script_better_than_a_decoy(dialogue) -> None:
    path, turns = dialogue
    item = _item(turns)
    check = speech_check(item, path, DECOY)
    heard = item.metadata["speech_recognition"]
    assert check.passed, check.detail
    assert heard["wer"] <= heard["threshold"] and heard["decoy_wer"] > heard["wer"] + 0.2
    assert heard["threshold"] in SPEECH_WER_THRESHOLDS.values() and heard["engine"] and heard["transcript"]


def test_wer_above_the_recognisers_threshold_fails(dialogue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beating the decoy is not enough: the WER must also be within the recogniser's bar."""
    path, turns = dialogue
    item = _item(turns)
    speech_check(item, path, DECOY)
    heard = item.metadata["speech_recognition"]
    bar = {name: heard["wer"] - 0.01 for name in SPEECH_WER_THRESHOLDS}
    monkeypatch.setattr(module, "SPEECH_WER_THRESHOLDS", bar)
    check = speech_check(_item(turns), path, DECOY)
    assert not check.passed and "bar" in check.detail
    monkeypatch.setattr(module, "SPEECH_WER_THRESHOLDS", {name: heard["wer"] for name in bar})
    assert speech_check(_item(turns), path, DECOY).passed


def test_speech_that_says_something_else_fails(dialogue) -> None:
    path, turns = dialogue
    claims_other_words = [{**t, "text": DECOY} for t in turns]
    script = " ".join(t["text"] for t in turns)
    check = speech_check(_item(claims_other_words), path, script)
    assert not check.passed


def test_silence_fails(tmp_path: Path, dialogue) -> None:
    _, turns = dialogue
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(16000 * 3, np.float32), 16000)
    assert not speech_check(_item(turns), silent, DECOY).passed
