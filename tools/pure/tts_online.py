"""Online text-to-speech with gTTS (Google Translate's voices), with espeak-ng as an opt-in fallback.

gTTS posts the text to translate.google.<tld>. Offline that fails, and it must fail fast and say what
to use instead, so the request runs under a wall-clock deadline as well as requests' timeout, which
does not cover the DNS lookup.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import requests
from gtts import gTTS, gTTSError
from pydantic import BaseModel, Field

from tools.files import write_atomic
from tools.pure.audio_io import decode_audio, save_output
from tools.pure.deadline import with_deadline
from tools.pure.speech import DEFAULT_RATE, MAX_TEXT_CHARS, SpeechError, installed_voices, synthesize
from tools.registry import ToolError, Workspace, output_name, tool

CONNECT_TIMEOUT_S = 3.0  # a reachable Google accepts a connection well within this from anywhere
SAMPLE_RATE = 24000  # gTTS's MP3s are 24 kHz mono; the fallback matches
SLOW_RATE = 110  # espeak-ng words per minute standing in for gTTS's slow mode
ENGLISH_ACCENTS = {"com": "en-us", "co.uk": "en-gb"}  # gTTS tld -> espeak-ng voice for lang "en"


class GoogleUnreachable(RuntimeError):
    """gTTS got no usable answer from Google in time."""


class SpeakOnlineParams(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Text to speak.")
    lang: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$",
                      description="gTTS language code, e.g. en, fr, de, es, pt, ja, zh-CN.")
    # The tld becomes part of the host name, so only Google-style suffixes are accepted.
    tld: str = Field("com", pattern=r"^(com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$",
                     description="Google domain that sets the accent: com (US), co.uk, com.au, ca, co.in, ie, co.za.")
    slow: bool = Field(False, description="Speak slowly.")
    timeout_s: float = Field(10.0, gt=0, le=60, description="Give up on Google after this many seconds.")
    allow_fallback: bool = Field(False, description="If Google is unreachable, speak with espeak-ng instead of "
                                 "failing; the result then says engine 'espeak-ng (fallback from gTTS)'.")
    out: output_name(".mp3")


@tool("speak_online", SpeakOnlineParams, "Speak text with Google's text-to-speech (gTTS, needs the internet) into "
      "an MP3. Offline it fails within the timeout unless allow_fallback is set, which uses espeak-ng instead.")
def speak_online(p: SpeakOnlineParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    try:
        tts = gTTS(p.text, tld=p.tld, lang=p.lang, slow=p.slow, timeout=(min(CONNECT_TIMEOUT_S, p.timeout_s),
                                                                           p.timeout_s))
    except ValueError as exc:  # an unsupported language, found without the network
        raise ToolError(f"gTTS cannot speak {p.lang!r}: {exc}") from None
    path = ws.output(p.out)
    try:
        write_atomic(path, fetch(tts, p.timeout_s))
        engine = "gTTS"
    except GoogleUnreachable as exc:
        if not p.allow_fallback:
            raise ToolError(f"gTTS needs Google's text-to-speech service, which is unreachable: {exc}; "
                            "use the espeak-ng voice (tool speak) or allow_fallback") from None
        path = save_output(ws, p.out, _espeak(p), SAMPLE_RATE)
        engine = "espeak-ng (fallback from gTTS)"
    try:
        frames, rate = decode_audio(path)
    except ValueError as exc:
        path.unlink()
        raise ToolError(f"{engine} returned audio that does not decode: {exc}") from None
    return [path], {"engine": engine, "duration_s": len(frames) / rate, "sample_rate": rate, "lang": p.lang,
                    "tld": p.tld}


def fetch(tts: gTTS, deadline_s: float) -> bytes:
    """The MP3 gTTS fetches, or GoogleUnreachable once `deadline_s` has passed or the request failed."""

    def download() -> bytes:
        buffer = io.BytesIO()
        tts.write_to_fp(buffer)
        return buffer.getvalue()

    try:
        mp3 = with_deadline(download, deadline_s, "gtts")
    except TimeoutError as exc:
        raise GoogleUnreachable(str(exc)) from None
    except (gTTSError, requests.RequestException) as exc:
        raise GoogleUnreachable(_reason(exc)) from None
    if not mp3:
        raise GoogleUnreachable("the service answered without audio")
    return mp3


def _reason(exc: Exception) -> str:
    """`exc` with its most specific cause: gTTSError hides the requests error, which wraps urllib3's reason."""
    cause = exc.__context__ or exc
    detail = (getattr(cause.args[0], "reason", None) if cause.args else None) or cause
    return str(exc) if detail is exc else f"{exc} ({detail})"


def _espeak(p: SpeakOnlineParams) -> np.ndarray:
    languages, _ = installed_voices()
    lang = p.lang.lower()
    voice = ENGLISH_ACCENTS.get(p.tld, "en") if lang == "en" else next(
        (v for v in (lang, lang.split("-")[0]) if v in languages), None)
    if voice is None:
        raise ToolError(f"gTTS is unreachable and espeak-ng has no voice for {p.lang!r}")
    try:
        return synthesize(p.text, voice, SLOW_RATE if p.slow else DEFAULT_RATE, sample_rate=SAMPLE_RATE)
    except SpeechError as exc:
        raise ToolError(f"gTTS is unreachable and the espeak-ng fallback failed: {exc}") from None
