"""Mixed-language dialogues: one voice per (language, speaker), each speaker the same person in every
language, per-turn languages recorded, and a speech check that hears each turn in its language."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from state.models import Item, Source, TransformPlan
from tools.pure.audio import estimate_pitch
from tools.pure.audio_io import write_wav
from tools.pure.speech import LANGUAGES, PIPER_SPEC, SpeechError, espeak_available, render_dialogue
from tools.pure.whisper import transcribe_whisper, whisper_available
from tools.quality.speech_check import LANGUAGE_WER_THRESHOLDS, speech_check

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
needs_base = pytest.mark.skipif(not whisper_available("whisper-base"), reason="whisper base is not installed")

TURNS = [{"speaker": "Maria", "text": "Good morning, did you sleep well last night?"},
         {"speaker": "Tom", "text": "Sí, dormí muy bien, gracias por preguntar.", "lang": "es"},
         {"speaker": "Maria", "text": "Sehr gut, dann können wir jetzt zusammen losfahren.", "lang": "de"},
         {"speaker": "Tom", "text": "Great, I will get my coat and the car keys."}]
# The same languages, speakers and lengths, saying other things: what the audio must not be taken for.
DECOY_TURNS = [{"speaker": "Maria", "text": "The museum closes early on public holidays in winter."},
               {"speaker": "Tom", "text": "Mi hermano vive en una casa azul cerca del río.", "lang": "es"},
               {"speaker": "Maria", "text": "Der Bäcker verkauft jeden Morgen frisches Brot.", "lang": "de"},
               {"speaker": "Tom", "text": "Seven green bottles were standing on the kitchen wall."}]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, list[dict]]:
    samples, timeline = render_dialogue(TURNS)
    path = tmp_path_factory.mktemp("multilingual") / "d.wav"
    write_wav(path, samples, 16000)
    return path, samples, timeline


def _item(timeline: list[dict]) -> Item:
    return Item(id="x", subtask="s", question="q q q", answer="A", answer_text="a", modality="audio",
                source=Source(dataset="d", sample_id="1"), plan=TransformPlan(recipe="r", dataset="d"),
                metadata={"turns": timeline})


def test_each_language_and_speaker_has_its_own_voice_and_each_speaker_one_identity(rendered) -> None:
    _, samples, timeline = rendered
    assert [t["lang"] for t in timeline] == ["en", "es", "de", "en"]
    voices = {(t["lang"], t["speaker"]): t["voice"] for t in timeline}
    assert len(set(voices.values())) == len(voices) == 4
    for t in timeline:
        base, _, variant = t["voice"].partition("+")
        assert base.split("-")[0] == t["lang"] and (t["lang"] == "en" or base == LANGUAGES[t["lang"]])
    # Tom speaks Spanish, so piper (English only) never voices him; one variant per speaker in every language.
    tom = {t["voice"] for t in timeline if t["speaker"] == "Tom"}
    assert PIPER_SPEC not in tom and len({v.partition("+")[2] for v in tom}) == 1
    assert len({t["voice"].partition("+")[2] for t in timeline if t["speaker"] == "Maria"}) == 1
    # Recognisably the same person: each speaker's pitch holds across languages, far from the other's.
    pitch = [estimate_pitch(samples[round(t["start"] * 16000): round(t["end"] * 16000)], 16000) for t in timeline]
    maria, tom_hz = (pitch[0], pitch[2]), (pitch[1], pitch[3])
    assert abs(maria[0] - maria[1]) < 25 and abs(tom_hz[0] - tom_hz[1]) < 25
    assert min(maria) - max(tom_hz) > 50


def test_the_dialogue_language_is_the_default_and_a_turn_may_leave_it() -> None:
    _, timeline = render_dialogue([{"speaker": "Ana", "text": "Hola, ¿qué tal?"},
                                   {"speaker": "Ben", "text": "Fine, thanks.", "lang": "en"}], language="es")
    assert [t["lang"] for t in timeline] == ["es", "en"] and timeline[0]["voice"].startswith("es+")
    assert timeline[1]["voice"] == PIPER_SPEC or timeline[1]["voice"].startswith("en")  # Ben speaks English only


def test_an_unsupported_language_or_a_piper_voice_abroad_is_refused_by_name() -> None:
    with pytest.raises(SpeechError, match=r"language 'tlh' is not supported for speech; supported: en, es, fr"):
        render_dialogue([{"speaker": "Worf", "text": "nuqneH", "lang": "tlh"}])
    with pytest.raises(SpeechError, match="'xx' is not supported"):
        render_dialogue([{"speaker": "A", "text": "Hello."}], language="xx")
    with pytest.raises(SpeechError, match="piper speaks English only, not 'de'"):
        render_dialogue([{"speaker": "Tom", "text": "Guten Tag.", "lang": "de"}], voices={"Tom": PIPER_SPEC})


@pytest.mark.slow
@needs_base
def test_the_speech_check_hears_each_language_and_fails_a_decoy_script(rendered) -> None:
    path, _, timeline = rendered
    item = _item(timeline)
    check = speech_check(item, path, "")
    heard = item.metadata["speech_recognition"]
    assert check.passed, check.detail
    assert set(heard["languages"]) == {"en", "es", "de"}
    bars = LANGUAGE_WER_THRESHOLDS["whisper-base"]
    assert all(v["threshold"] == bars[lang] for lang, v in heard["languages"].items())
    # Audio that says other words in the same languages, at the same times, is not its script.
    decoy = [{**t, "text": d["text"]} for t, d in zip(timeline, DECOY_TURNS)]
    assert not speech_check(_item(decoy), path, "").passed


def test_an_english_only_recogniser_says_it_cannot_check_other_languages(rendered, monkeypatch) -> None:
    path, _, timeline = rendered
    monkeypatch.setenv("BENCHAGENT_ASR", "pocketsphinx")
    item = _item(timeline)
    check = speech_check(item, path, "")
    assert not check.passed and "pocketsphinx cannot check the es/de turns: it recognises English only" in check.detail
    assert item.metadata["speech_recognition"]["unchecked_languages"] == ["es", "de"]


def test_an_english_only_whisper_model_refuses_another_language() -> None:
    with pytest.raises(ValueError, match=r"whisper-tiny \(tiny.en\) recognises English only, not 'es'"):
        transcribe_whisper(np.zeros(16000, np.float32), "whisper-tiny", "es")


@needs_base
def test_a_language_whisper_base_does_not_hear_is_reported_unchecked(tmp_path: Path) -> None:
    samples, timeline = render_dialogue([{"speaker": "Ana", "text": "Where is the station?"},
                                         {"speaker": "Ben", "text": "La gare est tout près d'ici.", "lang": "fr"}])
    write_wav(tmp_path / "d.wav", samples, 16000)
    check = speech_check(_item(timeline), tmp_path / "d.wav", "")
    assert not check.passed and "whisper-base cannot check the fr turns: no bar is measured" in check.detail
