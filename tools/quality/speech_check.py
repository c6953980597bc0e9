"""The speech check: rendered speech is recognised and must say its script."""

from __future__ import annotations

from pathlib import Path

from state.models import Check, Item, Row
from tools.pool import Pool
from tools.pure.asr import probe_speech, word_error_rate


def speech_check(item: Item, clean_path: Path, decoy: str) -> Check:
    """Recognise the rendered speech: it must match its own script better than another dialogue's.

    espeak-ng speech is recognised at a WER near 0.7, so an absolute bar would reject good items;
    beating a decoy script still catches silence, truncation and audio that says something else."""
    script = " ".join(t["text"] for t in item.metadata["turns"])
    probe = probe_speech(clean_path, script)
    decoy_wer = word_error_rate(decoy, probe.transcript) if decoy and not probe.error else 1.0
    item.metadata["speech_recognition"] = {"engine": probe.engine, "wer": round(probe.wer, 3),
                                           "decoy_wer": round(decoy_wer, 3), "transcript": probe.transcript}
    return Check(name="speech_says_script", passed=not probe.error and probe.wer < min(1.0, decoy_wer),
                 detail=probe.error or f"WER {probe.wer:.2f} against its script, {decoy_wer:.2f} against a decoy")


def decoy_script(pool: Pool, row: Row) -> str:
    """The dialogue of the next row of the same dataset, as a script the audio must not match."""
    rows = pool.rows(row.dataset)
    at = next(i for i, r in enumerate(rows) if r.sample_id == row.sample_id)
    for other in rows[at + 1:] + rows[:at]:
        turns = other.values.get("dialogue")
        if isinstance(turns, list) and turns:
            return " ".join(str(t.get("text", "")) for t in turns)
    return ""
