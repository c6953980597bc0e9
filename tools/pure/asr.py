"""Offline speech recognition and word error rate, with the best recogniser installed.

The verifier uses this round trip to check that synthesised speech says its script: a high WER
against the right script, or a low one against a wrong script, means the audio is not what the
item claims. Whisper base (tools/pure/whisper.py) hears espeak-ng speech almost exactly; tiny.en
nearly as well; pocketsphinx, always installed, misses most words of espeak-ng speech and is
the fallback. BENCHAGENT_ASR=pocketsphinx|whisper-tiny|whisper-base overrides the choice.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import threading
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from pydantic import BaseModel, Field

from tools.pure.audio_io import read_wav
from tools.pure.speech import MAX_TEXT_CHARS, resample
from tools.pure.whisper import MODELS, engine_label, transcribe_whisper, whisper_available
from tools.registry import InputPath, ToolError, Workspace, tool

ASR_RATE = 16000  # the rate both pocketsphinx's model and Whisper take
MAX_SECONDS = 120.0  # one utterance for pocketsphinx; longer files are refused, not silently cut
# espeak-ng's speech is unnaturally clean (runs of exact zeros, no noise floor). Fixed-seed noise at
# -70 dBFS, below any microphone's floor, moved pocketsphinx's WER on 30 sentences from 0.77 to 0.60
# for espeak-ng en-us and from 0.086 to 0.104 for piper: a trade for the project's main voice.
DITHER = 3e-4
ASR_ENV = "BENCHAGENT_ASR"
POCKETSPHINX = "pocketsphinx"
RECOGNISERS = (*MODELS, POCKETSPHINX)  # best first
POCKETSPHINX_ENGINE = f"pocketsphinx {'.'.join(importlib.metadata.version('pocketsphinx').split('.')[:2])} en-us"

_DECODER_LOCK = threading.Lock()  # a Decoder holds one utterance at a time
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_SEPARATORS = re.compile(r"[-\u2010-\u2015/_]")
_NOT_WORD = re.compile(r"[^\w' ]")
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))


class SpeechProbe(BaseModel):
    """What the recogniser heard in a file and how far it is from the script it should say."""

    recogniser: str = Field("", description="The recogniser's name, one of RECOGNISERS; \"\" when none was chosen.")
    engine: str = Field("", description="The recogniser with its version and model, for the record.")
    transcript: str = ""
    wer: float = Field(1.0, description="Word error rate against the script; 1.0 when recognition failed.")
    words: int = Field(0, description="Words in the normalised script (the WER denominator).")
    error: str = ""


def recogniser() -> str:
    """The recogniser to use: BENCHAGENT_ASR when set, else the best one installed.

    Raises ValueError when the override names an unknown or uninstalled recogniser."""
    chosen = os.environ.get(ASR_ENV, "").strip()
    if not chosen:
        return next(name for name in RECOGNISERS if name == POCKETSPHINX or whisper_available(name))
    if chosen not in RECOGNISERS:
        raise ValueError(f"{ASR_ENV}={chosen!r} is not one of {', '.join(RECOGNISERS)}; "
                         f"unset it to use the best recogniser installed")
    if chosen != POCKETSPHINX and not whisper_available(chosen):
        raise ValueError(f"{ASR_ENV}={chosen} but it is not installed: {MODELS[chosen].install_hint()}")
    return chosen


def engine(name: str) -> str:
    """The record of what judged the audio: "pocketsphinx 5.1 en-us", "faster-whisper 1.2.1 base int8"."""
    return POCKETSPHINX_ENGINE if name == POCKETSPHINX else engine_label(name)


def conditioned(samples: np.ndarray, rate: int) -> np.ndarray:
    """Speech as every recogniser here hears it: at ASR_RATE, with a seeded dither, within [-1, 1]."""
    speech = resample(samples, rate, ASR_RATE).astype(np.float64)
    speech += DITHER * np.random.default_rng(0).standard_normal(len(speech))
    return np.clip(speech, -1.0, 1.0)


def transcribe(path: Path, name: str | None = None) -> str:
    """The words recogniser `name` (default: `recogniser()`) hears in an audio file; "" for silence.

    Raises UnsafeInputError for missing or oversized files, ValueError for undecodable or empty
    audio, audio longer than MAX_SECONDS or a bad BENCHAGENT_ASR, and WhisperUnavailable when a
    Whisper model fails its checksum.
    """
    name = name or recogniser()
    samples, rate = read_wav(path)
    if len(samples) == 0:
        raise ValueError(f"{path.name} has no audio frames")
    if len(samples) > MAX_SECONDS * rate:
        raise ValueError(f"{path.name} lasts {len(samples) / rate:.0f} s, over the {MAX_SECONDS:.0f} s cap")
    speech = conditioned(samples, rate)
    if name != POCKETSPHINX:
        return transcribe_whisper(speech, name)
    pcm = np.round(speech * 32767).astype("<i2").tobytes()
    with _DECODER_LOCK:
        decoder = _decoder()
        decoder.start_utt()
        try:
            decoder.process_raw(pcm, full_utt=True)  # whole-file cepstral mean, better than the live estimate
        finally:
            decoder.end_utt()  # a failed utterance must not stay open for the next caller
        hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def normalise(text: str) -> str:
    """Lowercase words without punctuation, digits written out, so "7 cats!" matches "seven cats"."""
    text = _NUMBER.sub(lambda m: f" {_spell_number(m.group())} ", text.lower())
    text = text.replace("%", " percent ").replace("&", " and ")
    text = _NOT_WORD.sub(" ", _SEPARATORS.sub(" ", text))
    return " ".join(w for w in (word.strip("'") for word in text.split()) if w)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, after `normalise`; may exceed 1."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        raise ValueError("the reference has no words to score against")
    return float(jiwer.wer(ref, hyp))


def probe_speech(path: Path, script: str) -> SpeechProbe:
    """Transcribe `path` and score it against `script`; failures are reported in `error`, never raised."""
    words = len(normalise(script).split())
    probe = SpeechProbe(words=words)
    try:
        name = recogniser()
        probe = SpeechProbe(recogniser=name, engine=engine(name), words=words)
        transcript = transcribe(path, name)
        return probe.model_copy(update={"transcript": transcript, "wer": word_error_rate(script, transcript)})
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure instead of raising
        return probe.model_copy(update={"error": f"{type(exc).__name__}: {exc}"})


class RecogniseSpeechParams(BaseModel):
    audio: InputPath
    script: str = Field("", max_length=MAX_TEXT_CHARS,
                        description="What the audio should say; when given, the word error rate is reported.")


@tool("recognise_speech", RecogniseSpeechParams,
      "Transcribe English speech offline (Whisper when installed, else pocketsphinx) and, given the script "
      "it should say, report the word error rate. Compare WERs against a wrong script: pocketsphinx misses "
      "most words of synthetic voices.")
def recognise_speech(params: RecogniseSpeechParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    path = ws.input(params.audio)
    try:
        name = recogniser()
        transcript = transcribe(path, name)
    except (ValueError, RuntimeError) as exc:  # UnsafeInputError is a ValueError
        raise ToolError(str(exc)) from None
    values: dict[str, Any] = {"transcript": transcript, "engine": engine(name)}
    if params.script.strip():
        try:
            values["wer"] = word_error_rate(params.script, transcript)
        except ValueError as exc:
            raise ToolError(f"script: {exc}") from None
        values["words"] = len(normalise(params.script).split())
    return [], values


@functools.cache
def _decoder() -> Any:
    """One decoder per process: loading the model takes a few hundred milliseconds."""
    from pocketsphinx import Decoder

    return Decoder(loglevel="FATAL", samprate=ASR_RATE)


def _spell_number(token: str) -> str:
    whole, _, fraction = token.replace(",", "").partition(".")
    spoken = _spell_int(int(whole))
    return f"{spoken} point {' '.join(_ONES[int(d)] for d in fraction)}" if fraction else spoken


def _spell_int(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else f" {_ONES[n % 10]}")
    scale, name = next((scale, name) for scale, name in _SCALES if n >= scale)
    head, rest = divmod(n, scale)
    return f"{_spell_int(head)} {name}" + (f" {_spell_int(rest)}" if rest else "")
