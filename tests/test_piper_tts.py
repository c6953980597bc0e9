"""The optional piper voice: intelligible to the offline recogniser, deterministic, and absent cleanly."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import SCRIPT, WRONG

from tools.pure import piper_tts
from tools.pure.asr import probe_speech
from tools.pure.audio_io import read_wav, write_wav
from tools.pure.piper_tts import ENGINE, INSTALL_HINT, piper_available, synthesize_piper
from tools.registry import ToolError, Workspace, call

needs_piper = pytest.mark.skipif(not piper_available(), reason="optional extra benchmark-agent[piper] not installed")

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
DIGEST = "import hashlib, sys; from tools.pure.piper_tts import synthesize_piper; " \
         "print(hashlib.sha256(synthesize_piper(sys.argv[1]).tobytes()).hexdigest())"


@pytest.fixture(scope="module")
def piper_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("piper") / "piper.wav"
    write_wav(path, synthesize_piper(SCRIPT, sample_rate=SR), SR)
    return path


@needs_piper
def test_piper_speech_round_trip(piper_wav: Path) -> None:
    right, wrong = probe_speech(piper_wav, SCRIPT), probe_speech(piper_wav, WRONG)
    print(f"\n{right.engine} on {ENGINE}: WER {right.wer:.3f} right script, {wrong.wer:.3f} wrong script"
          f"\n  heard: {right.transcript!r}")
    assert right.error == "" and right.words == 32
    assert right.wer < 0.5
    assert wrong.wer > right.wer + 0.3


@needs_piper
def test_piper_is_deterministic_across_calls_and_processes() -> None:
    text = "Deterministic speech, byte for byte."
    first, second = synthesize_piper(text), synthesize_piper(text)
    assert first.dtype == np.float32 and first.ndim == 1 and 0.5 < len(first) / SR < 5
    assert 0.5 < np.abs(first).max() <= 1.0
    assert first.tobytes() == second.tobytes()
    done = subprocess.run([sys.executable, "-c", DIGEST, text], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == hashlib.sha256(first.tobytes()).hexdigest()


@needs_piper
def test_piper_options_change_the_audio() -> None:
    text = "Slow down a little."
    normal, slow = synthesize_piper(text), synthesize_piper(text, length_scale=1.5)
    assert len(slow) > 1.3 * len(normal)
    assert abs(len(synthesize_piper(text, sample_rate=8000)) - len(normal) / 2) <= 1
    with pytest.raises(ToolError, match="empty"):
        synthesize_piper(" \n\x00 ")
    with pytest.raises(ToolError, match="length_scale"):
        synthesize_piper(text, length_scale=9)


@needs_piper
def test_speak_piper_tool(tmp_path: Path) -> None:
    ws = Workspace(run_dir=tmp_path)
    result = call("speak_piper", {"text": "Hello from the piper voice.", "out": "hello.wav"}, ws)
    assert result.outputs == ["media/hello.wav"] and result.values["engine"] == ENGINE
    samples, rate = read_wav(tmp_path / "media/hello.wav")
    assert rate == SR and result.values["duration_s"] == pytest.approx(len(samples) / rate, abs=1e-3)
    with pytest.raises(ToolError, match=r"\.wav"):
        call("speak_piper", {"text": "Hello.", "out": "hello.mp3"}, ws)


def test_missing_piper_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(piper_tts, "piper_available", lambda: False)
    piper_tts._voice.cache_clear()
    try:
        with pytest.raises(ToolError, match=r"pip install 'benchmark-agent\[piper\]'"):
            synthesize_piper("Hello.")
        with pytest.raises(ToolError, match="optional extra"):
            call("speak_piper", {"text": "Hello.", "out": "hello.wav"}, Workspace(run_dir=tmp_path))
    finally:
        piper_tts._voice.cache_clear()  # so later tests load the real voice again
    assert "benchmark-agent[piper]" in INSTALL_HINT
