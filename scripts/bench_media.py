"""Throughput of the media tools on this machine: speech, dialogue, noise mixing, image perturbations,
and the registered executor tools (mixing, conversion, add_noise, gTTS's offline failure) end to end.

Run: .venv/bin/python scripts/bench_media.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.pure.audio import estimate_pitch, mix_at_snr, noise  # noqa: E402
from tools.pure.audio_io import write_wav  # noqa: E402
from tools.pure.images import PERTURBATIONS, perturb  # noqa: E402
from tools.pure.speech import VOICES, espeak_available, render_dialogue, synthesize  # noqa: E402
from tools.registry import ToolError, Workspace, call  # noqa: E402

SR = 16000
SENTENCE = "The committee will publish its final report on the coastal flood defences next spring."
DIALOGUE = [
    {"speaker": "A", "text": "Have you seen the new schedule for the weekend trains?"},
    {"speaker": "B", "text": "Yes, the last one now leaves at eleven fifteen instead of midnight."},
    {"speaker": "A", "text": "That is early. We should leave the concert before the encore."},
    {"speaker": "B", "text": "Or we could share a taxi with Maria, she lives near us."},
]


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best-of-3 wall seconds for `repeat` calls of `fn`."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_speech() -> None:
    if not espeak_available():
        print("speech: skipped, espeak-ng is not installed")
        return
    for voice in VOICES:
        audio = synthesize(SENTENCE, voice.spec, voice.rate, voice.pitch, SR)
        seconds = timed(lambda v=voice: synthesize(SENTENCE, v.spec, v.rate, v.pitch, SR), 5)
        print(f"speech {voice.spec:<12} f0 {estimate_pitch(audio, SR):6.1f} Hz   "
              f"{5 * len(audio) / SR / seconds:6.1f} s of speech per wall second")
    wave, timeline = render_dialogue(DIALOGUE, sample_rate=SR)
    seconds = timed(lambda: render_dialogue(DIALOGUE, sample_rate=SR), 3) / 3
    print(f"dialogue: {len(DIALOGUE)} turns, {len(wave) / SR:.1f} s of audio rendered in {seconds * 1000:.0f} ms")


def bench_mixing() -> None:
    speech = np.sin(np.arange(60 * SR) * 2 * np.pi * 150 / SR).astype(np.float32) * 0.3
    megabytes = speech.nbytes / 1e6
    for kind in ("white", "pink"):
        seconds = timed(lambda k=kind: mix_at_snr(speech, noise(k, len(speech), SR, seed=1), 5.0), 3) / 3
        print(f"noise {kind:<6} + mix, 60 s at {SR} Hz: {megabytes / seconds:7.1f} MB/s of float32 speech")
    if espeak_available():
        noise("babble", SR, SR, seed=0)  # warm the cached espeak-ng babble source
        seconds = timed(lambda: mix_at_snr(speech, noise("babble", len(speech), SR, seed=1), 5.0), 3) / 3
        print(f"noise babble + mix, 60 s at {SR} Hz: {megabytes / seconds:7.1f} MB/s of float32 speech")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = timed(lambda: write_wav(Path(tmp) / "x.wav", speech, SR), 3) / 3
    print(f"write_wav 60 s 16-bit: {speech.size * 2 / 1e6 / seconds:7.1f} MB/s of PCM")


def bench_images() -> None:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), (0, 0), 2)
    for op in PERTURBATIONS:
        seconds = timed(lambda o=op: perturb(image, o, seed=1), 20) / 20
        print(f"image {op:<6} 1024x768: {1 / seconds:7.1f} images/s")


def bench_tools() -> None:
    """Registered tools through `call`, on files in a temporary run: decode, work, encode, write."""
    if not espeak_available():
        print("tools: skipped, espeak-ng is not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(run_dir=Path(tmp), seed=1)
        clip = synthesize(SENTENCE, VOICES[0].spec, sample_rate=SR)
        write_wav(ws.run_dir / "a.wav", clip, SR)
        write_wav(ws.run_dir / "b.wav", synthesize(SENTENCE, VOICES[1].spec, sample_rate=SR), SR)
        cv2.imwrite(str(ws.run_dir / "p.png"), _picture())
        seconds_in = len(clip) / SR
        calls = [
            ("concat_audio 2 clips, gap", {"inputs": ["a.wav", "b.wav"], "gap_ms": 300, "out": "c.wav"}, 2),
            ("concat_audio 2 clips, crossfade", {"inputs": ["a.wav", "b.wav"], "crossfade_ms": 200, "out": "c.wav"}, 2),
            ("overlay_audio 1 overlay", {"base": "a.wav", "overlays": [{"source": "b.wav", "offset_ms": 500,
                                                                        "gain_db": -6}], "out": "o.wav"}, 2),
            ("place_sources 2 panned", {"sources": [{"source": "a.wav", "pan": -0.5},
                                                    {"source": "b.wav", "start_ms": 700, "pan": 0.5}],
                                        "out": "s.wav"}, 2),
            ("change_gain normalise", {"input": "a.wav", "target_dbfs": -20, "out": "g.wav"}, 1),
            ("resample_audio 16k->44.1k", {"input": "a.wav", "sample_rate": 44100, "out": "r.wav"}, 1),
            ("add_noise pink 5 dB", {"speech": "a.wav", "kind": "pink", "snr_db": 5, "out": "n.wav"}, 1),
            ("add_noise file 5 dB", {"speech": "a.wav", "kind": "file", "noise_file": "b.wav", "snr_db": 5,
                                     "out": "n.wav"}, 1),
            ("convert_audio wav->flac", {"input": "a.wav", "out": "a.flac"}, 1),
            ("convert_audio wav->mp3", {"input": "a.wav", "out": "a.mp3"}, 1),
            ("convert_audio mp3->wav", {"input": "media/a.mp3", "out": "back.wav"}, 1),
        ]
        for label, params, clips in calls:
            name = label.split()[0]
            call(name, params, ws)  # warm caches and create inputs later calls read
            seconds = timed(lambda n=name, p=params: call(n, p, ws), 5) / 5
            print(f"{label:<34} {1 / seconds:7.1f} calls/s  ({clips * seconds_in / seconds:6.1f} s of input audio/s)")
        for out in ("p.jpg", "p.webp"):
            seconds = timed(lambda o=out: call("convert_image", {"input": "p.png", "out": o}, ws), 5) / 5
            print(f"convert_image 1024x768 png->{out[2:]:<5}      {1 / seconds:7.1f} calls/s")
        latencies = []
        for _ in range(5):
            start = time.perf_counter()
            try:
                call("speak_online", {"text": SENTENCE, "out": "g.mp3"}, ws)
                outcome = "succeeded (online)"
            except ToolError:
                outcome = "failed (offline)"
            latencies.append(time.perf_counter() - start)
        print(f"speak_online (gTTS) {outcome}: median {np.median(latencies) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms over 5 calls")


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), (0, 0), 2)


if __name__ == "__main__":
    bench_speech()
    bench_mixing()
    bench_images()
    bench_tools()
