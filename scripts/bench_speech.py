"""Speech check calibration: per recogniser and voice, WER on clean dialogues and against a decoy.

Every dialogue of the bundled daily-dialogues set (the first --dialogues of them) is spoken whole in
each voice (espeak-ng's catalogue, piper's when installed) and as the builds render it (a voice per
speaker), then recognised by every installed recogniser. "clean" is the WER against the dialogue's
own script, "decoy" the WER of the same transcript against the next dialogue's script (what
tools/quality/speech_check.py compares). The bar printed per recogniser lies halfway between the
clean WERs' 95th percentile and the decoy WERs' 5th (at the former when they overlap): the
source of SPEECH_WER_THRESHOLDS.

Run: .venv/bin/python scripts/bench_speech.py [--dialogues N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.pure.asr import POCKETSPHINX, RECOGNISERS, engine, transcribe, word_error_rate  # noqa: E402
from tools.pure.audio_io import write_wav  # noqa: E402
from tools.pure.speech import catalogue, render_dialogue, speak_as  # noqa: E402
from tools.pure.whisper import whisper_available  # noqa: E402
from tools.quality.speech_check import SPEECH_WER_THRESHOLDS  # noqa: E402

SR = 16000
DIALOGUES = Path(__file__).resolve().parents[1] / "tools" / "demo_pool" / "daily-dialogues" / "data.jsonl"
RENDERED = "as built"  # the row for dialogues rendered with a voice per speaker


def dialogues(n: int) -> list[list[dict]]:
    rows = [json.loads(line) for line in DIALOGUES.read_text().splitlines() if line.strip()]
    return [row["dialogue"] for row in rows[:n]]


def clips(turns_list: list[list[dict]], folder: Path) -> dict[str, list[Path]]:
    """voice -> one WAV per dialogue, every turn in that voice; plus the build's multi-voice rendering."""
    out: dict[str, list[Path]] = {}
    for voice in catalogue():
        out[voice.spec] = [_save(folder, voice.spec, i, np.concatenate([speak_as(voice, t["text"]) for t in turns]))
                           for i, turns in enumerate(turns_list)]
    out[RENDERED] = [_save(folder, RENDERED, i, render_dialogue(turns)[0]) for i, turns in enumerate(turns_list)]
    return out


def _save(folder: Path, voice: str, i: int, samples: np.ndarray) -> Path:
    path = folder / f"{voice.replace(':', '_').replace('+', '_').replace(' ', '_')}-{i}.wav"
    write_wav(path, samples, SR)
    return path


def measure(name: str, paths: list[Path], scripts: list[str]) -> tuple[list[float], list[float], float, float]:
    """Clean WERs, decoy WERs, seconds of audio, seconds of recognition."""
    clean, decoy, audio_s, asr_s = [], [], 0.0, 0.0
    for i, path in enumerate(paths):
        start = time.perf_counter()
        heard = transcribe(path, name)
        asr_s += time.perf_counter() - start
        with wave.open(str(path), "rb") as wav:
            audio_s += wav.getnframes() / wav.getframerate()
        clean.append(word_error_rate(scripts[i], heard))
        decoy.append(word_error_rate(scripts[(i + 1) % len(scripts)], heard))
    return clean, decoy, audio_s, asr_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=10, help="how many dialogues per voice (default 10)")
    args = parser.parse_args()
    turns_list = dialogues(args.dialogues)
    scripts = [" ".join(t["text"] for t in turns) for turns in turns_list]
    names = [n for n in RECOGNISERS if n == POCKETSPHINX or whisper_available(n)]
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        start = time.perf_counter()
        audio = clips(turns_list, Path(tmp))
        print(f"{len(scripts)} dialogues x {len(audio)} voices synthesised in {time.perf_counter() - start:.0f} s")
        for name in names:
            transcribe(next(iter(audio.values()))[0], name)  # load the model before timing
            print(f"\n{engine(name)} (threshold in code: {SPEECH_WER_THRESHOLDS.get(name)})")
            print(f"  {'voice':<24}{'clean mean':>11}{'p95':>6}{'max':>6}{'decoy min':>10}{'p5':>6}"
                  f"{'margin':>8}{'s/dialogue':>11}{'x real time':>12}")
            all_clean, all_decoy = [], []
            for voice, paths in audio.items():
                clean, decoy, audio_s, asr_s = measure(name, paths, scripts)
                all_clean += clean
                all_decoy += decoy
                print(f"  {voice:<24}{np.mean(clean):>11.3f}{np.percentile(clean, 95):>6.3f}{max(clean):>6.3f}"
                      f"{min(decoy):>10.3f}{np.percentile(decoy, 5):>6.3f}{min(decoy) - max(clean):>8.3f}"
                      f"{asr_s / len(paths):>11.2f}{audio_s / asr_s:>12.1f}")
            high, low = float(np.percentile(all_clean, 95)), float(np.percentile(all_decoy, 5))
            # With no margin no bar separates good audio from wrong audio: keep the good, let the decoy judge.
            bar = (high + low) / 2 if low > high else high
            print(f"  all voices: clean p95 {high:.3f}, decoy p5 {low:.3f}, margin {low - high:.3f}, bar {bar:.2f}")


if __name__ == "__main__":
    main()
