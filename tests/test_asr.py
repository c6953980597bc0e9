"""Offline recognition round trip: espeak-ng speaks a script, a recogniser transcribes it, WER scores it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import SCRIPT, WRONG

from tools.pure import asr
from tools.pure.asr import (
    ASR_ENV,
    MAX_SECONDS,
    POCKETSPHINX_ENGINE,
    engine,
    normalise,
    probe_speech,
    recogniser,
    transcribe,
    word_error_rate,
)
from tools.pure.audio_io import write_wav
from tools.pure.speech import espeak_available, synthesize
from tools.registry import ToolError, Workspace, call

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SR = 16000


@pytest.fixture(scope="module")
def espeak_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("asr") / "espeak.wav"
    write_wav(path, synthesize(SCRIPT, "en-us", rate=150, sample_rate=22050), 22050)  # resampled on the way in
    return path


@pytest.fixture()
def pocketsphinx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ASR_ENV, "pocketsphinx")


@needs_espeak
def test_pocketsphinx_round_trip(espeak_wav: Path, pocketsphinx: None) -> None:
    right, wrong = probe_speech(espeak_wav, SCRIPT), probe_speech(espeak_wav, WRONG)
    print(f"\n{right.engine} on espeak-ng en-us: WER {right.wer:.3f} right script, {wrong.wer:.3f} wrong script"
          f"\n  heard: {right.transcript!r}")
    assert right.error == "" and right.recogniser == "pocketsphinx"
    assert right.engine == POCKETSPHINX_ENGINE == "pocketsphinx 5.1 en-us"
    assert right.words == len(normalise(SCRIPT).split()) == 32
    assert right.wer < 0.9
    assert wrong.wer > right.wer + 0.3


@needs_espeak
@pytest.mark.parametrize("name", ["whisper-base", "whisper-tiny"])
def test_whisper_round_trip(espeak_wav: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    if not asr.whisper_available(name):
        pytest.skip(f"{name} is not installed")
    monkeypatch.setenv(ASR_ENV, name)
    right, wrong = probe_speech(espeak_wav, SCRIPT), probe_speech(espeak_wav, WRONG)
    assert right.error == "" and right.recogniser == name and right.engine.startswith("faster-whisper ")
    assert right.wer < 0.2, right.transcript
    assert wrong.wer > 0.8


def test_best_installed_recogniser_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ASR_ENV, raising=False)
    installed: set[str] = set()
    monkeypatch.setattr(asr, "whisper_available", lambda name: name in installed)
    assert recogniser() == "pocketsphinx"
    installed.add("whisper-tiny")
    assert recogniser() == "whisper-tiny"
    installed.add("whisper-base")
    assert recogniser() == "whisper-base"
    monkeypatch.setenv(ASR_ENV, "whisper-tiny")
    assert recogniser() == "whisper-tiny"


def test_bad_recogniser_override_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(asr, "whisper_available", lambda name: False)
    monkeypatch.setenv(ASR_ENV, "whisper-huge")
    probe = probe_speech(tmp_path / "any.wav", "hello")
    assert "BENCHAGENT_ASR='whisper-huge' is not one of whisper-base, whisper-tiny, pocketsphinx" in probe.error
    assert probe.wer == 1.0 and probe.recogniser == ""
    monkeypatch.setenv(ASR_ENV, "whisper-base")
    write_wav(tmp_path / "any.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(ValueError, match="not installed: pip install faster-whisper"):
        recogniser()
    with pytest.raises(ToolError, match="BENCHAGENT_ASR=whisper-base but it is not installed"):
        call("recognise_speech", {"audio": "any.wav"}, Workspace(run_dir=tmp_path))


@needs_espeak
def test_recognise_speech_tool(espeak_wav: Path) -> None:
    ws = Workspace(run_dir=espeak_wav.parent)
    scored = call("recognise_speech", {"audio": espeak_wav.name, "script": SCRIPT}, ws)
    assert scored.values["engine"] == engine(recogniser()) and scored.values["words"] == 32
    assert scored.values["wer"] == pytest.approx(word_error_rate(SCRIPT, scored.values["transcript"]))
    assert scored.provenance.inputs == [espeak_wav.name] and scored.outputs == []
    plain = call("recognise_speech", {"audio": espeak_wav.name}, ws)
    assert set(plain.values) == {"transcript", "engine"}
    assert plain.values["transcript"] == scored.values["transcript"]  # one decoder, reused, no state leaks


def test_recognise_speech_tool_errors(tmp_path: Path) -> None:
    ws = Workspace(run_dir=tmp_path)
    with pytest.raises(ToolError, match="does not exist"):
        call("recognise_speech", {"audio": "missing.wav"}, ws)
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    with pytest.raises(ToolError, match="noise.wav"):
        call("recognise_speech", {"audio": "noise.wav"}, ws)
    write_wav(tmp_path / "quiet.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(ToolError, match="no words"):
        call("recognise_speech", {"audio": "quiet.wav", "script": "?!"}, ws)


def test_silence_transcribes_to_nothing(tmp_path: Path) -> None:
    write_wav(tmp_path / "quiet.wav", np.zeros(2 * SR, np.float32), SR)
    assert transcribe(tmp_path / "quiet.wav", "pocketsphinx") == ""
    assert transcribe(tmp_path / "quiet.wav") == ""  # Whisper, when installed, must not hallucinate either


def test_probe_reports_failures_instead_of_raising(tmp_path: Path) -> None:
    missing = probe_speech(tmp_path / "missing.wav", "hello there")
    assert missing.error.startswith("UnsafeInputError") and missing.words == 2 and missing.wer == 1.0
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    assert probe_speech(tmp_path / "junk.wav", "hello").error
    write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    assert "no audio frames" in probe_speech(tmp_path / "empty.wav", "hello").error
    write_wav(tmp_path / "long.wav", np.zeros(int((MAX_SECONDS + 1) * 8000), np.float32), 8000)
    assert "cap" in probe_speech(tmp_path / "long.wav", "hello").error


def test_word_error_rate_normalises() -> None:
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("I have 7 cats & 21 dogs.", "i have seven cats and twenty one dogs") == 0.0
    assert word_error_rate("It's 3.5% off, twenty-two days", "it's three point five percent off twenty two days") == 0
    assert word_error_rate("one two three four", "one two four") == 0.25
    assert word_error_rate("one", "one two three") == 2.0  # insertions count, so WER can exceed 1
    assert normalise("  'Quoted'  words — don't   1,250 ") == "quoted words don't one thousand two hundred fifty"
    with pytest.raises(ValueError, match="no words"):
        word_error_rate(" ... ", "anything")
