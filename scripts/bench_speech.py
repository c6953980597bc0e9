"""Offline speech round trip on this machine: recognition and piper synthesis speed, WER per voice.

Run: .venv/bin/python scripts/bench_speech.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.pure.asr import ENGINE as ASR_ENGINE  # noqa: E402
from tools.pure.asr import normalise, transcribe  # noqa: E402
from tools.pure.audio_io import write_wav  # noqa: E402
from tools.pure.piper_tts import ENGINE as PIPER_ENGINE  # noqa: E402
from tools.pure.piper_tts import piper_available, synthesize_piper  # noqa: E402
from tools.pure.speech import DEFAULT_RATE, espeak_available, synthesize  # noqa: E402

SR = 16000
SENTENCES = (
    "The quarterly report is due on Friday, so please send your figures before noon.",
    "Could you pass me the salt and the pepper, and maybe a little more bread as well?",
    "She said the meeting had been moved to the small room on the third floor.",
    "We should plant the tomatoes in spring, once the last frost has passed.",
    "The children walked to school in the morning.",
    "Please call me back when you get home tonight.",
    "The museum opens at nine and closes early on Sundays.",
    "My brother bought a new bicycle with bright red wheels.",
    "Heavy rain is expected along the coast until Thursday evening.",
    "Turn left at the bakery and the library is on your right.",
)
ESPEAK_VOICE = "en-us"


def speak_all(speak: Callable[[str], np.ndarray]) -> tuple[list[np.ndarray], float]:
    """Every sentence spoken, and the wall seconds that took."""
    start = time.perf_counter()
    clips = [speak(text) for text in SENTENCES]
    return clips, time.perf_counter() - start


def recognise_all(clips: list[np.ndarray], folder: Path) -> tuple[list[str], float]:
    """Every clip written as WAV and transcribed, and the wall seconds transcription took."""
    paths = []
    for i, clip in enumerate(clips):
        paths.append(folder / f"{i}.wav")
        write_wav(paths[-1], clip, SR)
    start = time.perf_counter()
    heard = [transcribe(path) for path in paths]
    return heard, time.perf_counter() - start


def report(engine: str, speak: Callable[[str], np.ndarray], folder: Path) -> None:
    clips, synth_s = speak_all(speak)
    audio_s = sum(len(c) for c in clips) / SR
    heard, asr_s = recognise_all(clips, folder)
    wer = jiwer.wer([normalise(s) for s in SENTENCES], [normalise(h) for h in heard])
    print(f"{engine:<26} synthesis {audio_s / synth_s:7.1f} s of speech per wall second "
          f"({audio_s:.1f} s of audio)")
    print(f"{ASR_ENGINE:<26} recognition {audio_s / asr_s:5.1f} s of speech per wall second on {engine}")
    print(f"{ASR_ENGINE:<26} WER {wer:.3f} on {engine}, {len(SENTENCES)} sentences, "
          f"{sum(len(normalise(s).split()) for s in SENTENCES)} words")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        folder = Path(tmp)
        # Load the recogniser (and the piper voice) once first, so one-off model loading is not timed.
        write_wav(folder / "warm.wav", np.zeros(SR, np.float32), SR)
        transcribe(folder / "warm.wav")
        if piper_available():
            synthesize_piper("Warm up.")
        if espeak_available():
            espeak = f"espeak-ng {ESPEAK_VOICE} {DEFAULT_RATE}wpm"
            report(espeak, lambda text: synthesize(text, ESPEAK_VOICE, sample_rate=SR), folder)
        else:
            print("espeak-ng: skipped, not installed")
        if piper_available():
            report(PIPER_ENGINE, lambda text: synthesize_piper(text, sample_rate=SR), folder)
            same = all(synthesize_piper(t).tobytes() == synthesize_piper(t).tobytes() for t in SENTENCES[:3])
            print(f"{PIPER_ENGINE:<26} repeated synthesis byte-identical: {same}")
        else:
            print("piper: skipped, install the optional extra: pip install 'benchmark-agent[piper]'")


if __name__ == "__main__":
    main()
