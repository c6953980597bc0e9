"""The speech check: rendered speech is recognised and must say its script."""

from __future__ import annotations

from pathlib import Path

from state.models import Check, Item, Row
from tools.pool import Pool
from tools.pure.asr import probe_speech, word_error_rate

# The highest WER against its own script that still counts as saying it, per recogniser: halfway
# between the clean WERs' 95th percentile and the decoy WERs' 5th over every voice (at the former when
# they overlap), measured by scripts/bench_speech.py on the first 10 daily-dialogues, each spoken whole
# by each of the 7 voices (piper's and espeak-ng's 6) and as builds render them (80 clips a recogniser):
#   whisper-base: clean mean 0.02 (piper) .. 0.22 (en-029+f2), p95 0.28, max 0.48 (en+f3);
#                 decoy min 0.87, p5 0.87; margin 0.58 -> bar 0.57
#   whisper-tiny: clean mean 0.02 (piper) .. 0.33 (en-029+f2), p95 0.41, max 1.00 (en-029+f2, one clip);
#                 decoy min 0.87, p5 0.87; margin 0.46 -> bar 0.64 (rerun on quiet cores with the silence filter;
#                 base's figures did not move)
#   pocketsphinx: clean mean 0.18 (piper) .. 0.91 (en-029+f2), p95 0.97; decoy p5 0.89; margin -0.08:
#                 no bar separates, so it sits at the clean p95 (0.97) and only the decoy judges.
SPEECH_WER_THRESHOLDS = {"whisper-base": 0.57, "whisper-tiny": 0.64, "pocketsphinx": 0.97}


def speech_check(item: Item, clean_path: Path, decoy: str) -> Check:
    """Recognise the rendered speech: its WER must be within the recogniser's threshold and below the
    WER of the same transcript against another dialogue's script (a decoy), so silence, truncation and
    audio that says something else fail whichever recogniser judges."""
    script = " ".join(t["text"] for t in item.metadata["turns"])
    probe = probe_speech(clean_path, script)
    decoy_wer = word_error_rate(decoy, probe.transcript) if decoy and not probe.error else 1.0
    threshold = SPEECH_WER_THRESHOLDS.get(probe.recogniser, 0.0)
    item.metadata["speech_recognition"] = {"engine": probe.engine, "wer": round(probe.wer, 3),
                                           "threshold": threshold, "decoy_wer": round(decoy_wer, 3),
                                           "transcript": probe.transcript}
    passed = not probe.error and probe.wer <= threshold and probe.wer < decoy_wer
    return Check(name="speech_says_script", passed=passed,
                 detail=probe.error or f"WER {probe.wer:.2f} against its script (bar {threshold:.2f} for "
                                       f"{probe.recogniser}), {decoy_wer:.2f} against a decoy")


def decoy_script(pool: Pool, row: Row) -> str:
    """The dialogue of the next row of the same dataset, as a script the audio must not match."""
    rows = pool.rows(row.dataset)
    at = next(i for i, r in enumerate(rows) if r.sample_id == row.sample_id)
    for other in rows[at + 1:] + rows[:at]:
        turns = other.values.get("dialogue")
        if isinstance(turns, list) and turns:
            return " ".join(str(t.get("text", "")) for t in turns)
    return ""
