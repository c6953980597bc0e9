"""Offline, deterministic text-to-speech with the espeak-ng binary, and the speak / speak_dialogue tools.

Dialogues also use the optional piper voice (tools/pure/piper_tts.py) for one male or unknown
speaker when it is installed; voices fit what a speaker's name says about them. A turn may be in
any language of LANGUAGES: a speaker keeps one identity (variant, pitch, rate) in all of them.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from tools.pure.audio_io import WavOutput, resample, save_output
from tools.registry import ToolError, Workspace, tool

MAX_TEXT_CHARS = 2000
DEFAULT_RATE = 160  # words per minute
DEFAULT_PITCH = 50  # espeak-ng's 0..99 scale
TIMEOUT_S = 30
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_OTHER_LANGUAGE = re.compile(r"\((\S+) \d+\)")
_VOICE_SPEC = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/ -]{0,63}")
PIPER_SPEC = "piper:en_US-joe-medium"  # the colon keeps it from ever reaching espeak-ng as a spec
# Voices chosen for one dialogue stay this far apart in median f0 when the catalogue allows: the
# verifier demands 10 Hz (agents/verifier.py MIN_PITCH_GAP_HZ) measured on real turns, which scatter.
PITCH_SPACING_HZ = 30.0
NARRATOR = "narrator"  # speak_dialogue's name, in its voices map, for the voice that reads unattributed turns
# The languages a turn may be spoken in (ISO 639-1) -> the espeak-ng voice that speaks it. Each is a voice
# file's own name ("fr", not its alias "fr-fr"): espeak-ng 1.51 drops a +variant after an alias, and the
# variant is what keeps a speaker the same person in every language. English turns keep each catalogue
# voice's own accent. Each language's speech-check bar is measured (tools/quality/speech_check.py).
LANGUAGES: dict[str, str] = {"en": "en-us", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt", "nl": "nl"}
# Other languages are spoken this much slower than a voice's English, each speaker staying faster or
# slower than the others: Whisper base's mean WER on clean espeak-ng speech (10 sentences by the 6 voices)
# fell from 0.48 to 0.46 in Spanish and from 0.93 to 0.86 in French.
FOREIGN_RATE = 0.7
Sex = Literal["female", "male"]


class SpeechError(RuntimeError):
    """espeak-ng is missing, refused the request or produced no audio."""


@dataclass(frozen=True)
class Voice:
    """A voice spec with the prosody that keeps it distinct from the others.

    f0 is the median pitch tools.pure.audio.estimate_pitch measures on three sentences; 0 when unknown."""

    spec: str
    pitch: int
    rate: int
    sex: Sex | None = None
    f0: float = 0.0


# Each voice is a language + variant that espeak-ng really applies (in espeak-ng 1.51 a variant
# after "en-gb" is silently ignored, so British voices use "en"), spread over the pitch range.
VOICES: list[Voice] = [
    Voice("en-us+m3", pitch=40, rate=160, sex="male", f0=95),
    Voice("en+f3", pitch=60, rate=155, sex="female", f0=228),
    Voice("en-us+m7", pitch=85, rate=165, sex="male", f0=146),
    Voice("en-029+f2", pitch=40, rate=160, sex="female", f0=177),
    Voice("en-us+m1", pitch=20, rate=150, sex="male", f0=71),
    Voice("en-us+f4", pitch=95, rate=170, sex="female", f0=294),
]
PIPER_VOICE = Voice(PIPER_SPEC, pitch=DEFAULT_PITCH, rate=DEFAULT_RATE, sex="male", f0=95)  # pitch, rate unused

# What a speaker's name says about them. Titles and role words outrank names ("Mrs Paul" is a woman);
# W/M/F are the listening-test labels (W: ..., M: ...).
_FEMALE_WORDS = frozenset(
    "mrs ms miss madam madame ma'am lady woman women girl mother mom mum mommy mummy wife daughter sister "
    "aunt auntie grandmother grandma granny queen princess female she her actress waitress hostess nun "
    "bride girlfriend niece stewardess landlady saleswoman businesswoman policewoman w f".split())
_MALE_WORDS = frozenset(
    "mr sir man men boy father dad daddy husband son brother uncle grandfather grandpa king prince male he "
    "him actor waiter monk groom boyfriend nephew steward landlord salesman businessman policeman m".split())
_FEMALE_NAMES = frozenset(
    "aisha ana anna bella beth carmen catherine chloe dora elena ella emily emma fatima freya gina grace hana "
    "helen ines iris isla jade jane jennifer jessica julia karen kate laura lena linda lisa lucy maria mary "
    "maya mia nadia nancy nina nora olivia priya rachel rosa ruth sara sarah sofia sophie susan tara uma "
    "yara yuki zara zoe".split())
_MALE_NAMES = frozenset(
    "adam amir ben bill bob carlos charles chen daniel david dev diego eli emil felix finn frank gabe george "
    "harry henry hiro hugo ivan jack james jim joe john jonas karl kofi leo liam lucas marco mark mateo "
    "michael mike noah oliver omar otto paul peter ravi richard robert sam sean steve thomas tom victor "
    "walter william xavier".split())
_WORD = re.compile(r"[a-z']+")


def espeak_available() -> bool:
    """True when the espeak-ng binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize(
    text: str, voice: str, rate: int = DEFAULT_RATE, pitch: int = DEFAULT_PITCH, sample_rate: int = 16000
) -> np.ndarray:
    """Speak `text` with espeak-ng; float32 mono in [-1, 1] at `sample_rate`, edge silence trimmed."""
    clean = clean_text(text)
    _check_args(voice, rate, pitch, sample_rate)
    samples, native_rate = _run_espeak(clean, voice, rate, pitch)
    return resample(_trim_silence(samples), native_rate, sample_rate)


def render_dialogue(
    turns: list[dict], voices: dict[str, str] | None = None, pause_ms: int = 400, sample_rate: int = 16000,
    language: str = "en",
) -> tuple[np.ndarray, list[dict]]:
    """Speak each turn ({"speaker", "text", "lang"?}) in its speaker's voice with `pause_ms` of silence between turns.

    A turn is spoken in its "lang" (default `language`), one of LANGUAGES. Speakers get voices by
    `assign_voices` and keep them in every language (`in_language`), so each (language, speaker) has a
    voice of its own; a turn whose speaker is None (the source does not say who speaks) is read by one
    narrator voice. Returns the waveform and one {"turn", "speaker", "lang", "voice", "start", "end",
    "text"} per turn: start and end in seconds bound exactly that turn's samples; text is what was
    spoken (whitespace-normalised, capped at MAX_TEXT_CHARS). SpeechError for an unsupported language.
    """
    if not turns:
        raise SpeechError("a dialogue needs at least one turn")
    default = check_language(language)
    speakers = [None if t.get("speaker") is None else str(t["speaker"]) for t in turns]
    langs = [check_language(str(t.get("lang") or default)) for t in turns]
    assigned = assign_voices(speakers, voices, non_english={s for s, lang in zip(speakers, langs) if lang != "en"})
    pause = np.zeros(round(pause_ms * sample_rate / 1000), dtype=np.float32)
    pieces: list[np.ndarray] = []
    timeline: list[dict] = []
    cursor = 0
    for i, (turn, speaker, lang) in enumerate(zip(turns, speakers, langs)):
        voice = in_language(assigned[speaker], lang)
        text = clean_text(str(turn["text"]))
        speech = speak_as(voice, text, sample_rate)
        if pieces:
            pieces.append(pause)
            cursor += len(pause)
        pieces.append(speech)
        timeline.append({
            "turn": i, "speaker": speaker, "lang": lang, "voice": voice.spec, "start": cursor / sample_rate,
            "end": (cursor + len(speech)) / sample_rate, "text": text,
        })
        cursor += len(speech)
    return np.concatenate(pieces), timeline


def check_language(lang: str) -> str:
    """`lang` as a key of LANGUAGES ("ES" -> "es"); SpeechError naming the supported ones when it is not."""
    code = lang.strip().lower()
    if code not in LANGUAGES:
        raise SpeechError(f"language {lang!r} is not supported for speech; supported: {', '.join(LANGUAGES)}")
    return code


def in_language(voice: Voice, lang: str) -> Voice:
    """The same speaker speaking `lang`: that language's espeak-ng voice with `voice`'s variant and pitch, and
    its rate (the speaker's English rate) slowed by FOREIGN_RATE outside English.

    A spec already of that language is kept ("en-029+f2" for English), and so is one of no language in
    LANGUAGES (a caller's own choice, or a typo espeak-ng then refuses); piper speaks English only."""
    if voice.spec == PIPER_SPEC:
        if lang == "en":
            return voice
        raise SpeechError(f"piper speaks English only, not {lang!r}; give this speaker an espeak-ng voice")
    base, _, variant = voice.spec.partition("+")
    own, spec = base.split("-")[0], voice.spec
    if own != lang and own in LANGUAGES:
        spec = f"{LANGUAGES[lang]}+{variant}" if variant else LANGUAGES[lang]
    return replace(voice, spec=spec, rate=voice.rate if lang == "en" else max(80, round(voice.rate * FOREIGN_RATE)))


def speak_as(voice: Voice, text: str, sample_rate: int = 16000) -> np.ndarray:
    """`text` in `voice`: piper for PIPER_SPEC, espeak-ng for every other spec."""
    if voice.spec != PIPER_SPEC:
        return synthesize(text, voice.spec, voice.rate, voice.pitch, sample_rate)
    from tools.pure.piper_tts import synthesize_piper  # piper_tts imports this module

    try:
        return synthesize_piper(text, sample_rate)
    except ToolError as exc:
        raise SpeechError(str(exc)) from None


def catalogue() -> list[Voice]:
    """The voices dialogues draw from, preferred first: piper's when installed, then espeak-ng's."""
    from tools.pure.piper_tts import piper_available  # piper_tts imports this module

    return [PIPER_VOICE, *VOICES] if piper_available() else list(VOICES)


def speaker_sex(speaker: str) -> Sex | None:
    """"female" or "male" when the speaker's label says so ("Mrs Smith", "mother", "W", "Catherine"), else None."""
    words = _WORD.findall(speaker.lower())
    for word in words:
        if word in _FEMALE_WORDS:
            return "female"
        if word in _MALE_WORDS:
            return "male"
    first = words[0] if words else ""
    return "female" if first in _FEMALE_NAMES else "male" if first in _MALE_NAMES else None


def assign_voices(
    speakers: list[str | None], voices: dict[str, str] | None = None, non_english: set[str | None] | None = None,
) -> dict[str | None, Voice]:
    """One voice per distinct speaker, in order of first appearance.

    A speaker mapped in `voices` gets that spec. Others get the first free catalogue voice of the
    sex their label implies (any voice when it implies none) that keeps PITCH_SPACING_HZ from the
    voices taken; failing that, the free fitting voice farthest in pitch from them. None, the
    unknown speaker, gets the narrator: the first catalogue voice not mapped to a named speaker.
    Speakers in `non_english` say something in another language and get espeak-ng voices only:
    piper speaks English alone, and one engine keeps the speaker one person in every language.
    """
    given = voices or {}
    voices_in = catalogue()
    taken = [voice_for(spec) for spec in given.values()]
    assigned: dict[str | None, Voice] = {}
    for speaker in dict.fromkeys(speakers):
        if speaker is not None and speaker in given:
            assigned[speaker] = voice_for(given[speaker])
            continue
        able = [v for v in voices_in if v != PIPER_VOICE] if speaker in (non_english or ()) else voices_in
        free = [v for v in able if v not in taken]
        if speaker is None:
            assigned[None] = free[0] if free else able[0]
            continue
        sex = speaker_sex(speaker)
        fitting = [v for v in free if sex is None or v.sex in (sex, None)] or free
        if not fitting:
            raise SpeechError(f"{len(set(speakers))} speakers but only {len(voices_in)} distinct voices; "
                              f"map the rest in `voices`")
        gap = {v.spec: min((abs(v.f0 - t.f0) for t in taken), default=float("inf")) for v in fitting}
        voice = next((v for v in fitting if gap[v.spec] >= PITCH_SPACING_HZ), None)
        assigned[speaker] = voice or max(fitting, key=lambda v: gap[v.spec])
        taken.append(assigned[speaker])
    return assigned


def voice_for(spec: str) -> Voice:
    """The catalogue entry for `spec` (PIPER_SPEC included), or `spec` with neutral prosody."""
    known = [PIPER_VOICE, *VOICES]
    return next((v for v in known if v.spec == spec), Voice(spec, pitch=DEFAULT_PITCH, rate=DEFAULT_RATE))


@functools.cache
def installed_voices() -> tuple[frozenset[str], frozenset[str]]:
    """(languages and voice files, variant files) that this espeak-ng knows.

    espeak-ng silently substitutes unknown names ("no-such" speaks Norwegian, an unknown variant
    is dropped), so specs are checked against these lists before synthesis.
    """
    languages: set[str] = set()
    for row in _espeak_table("--voices"):
        fields = row.split()
        languages.update([fields[1], fields[4], *_OTHER_LANGUAGE.findall(row)])
    variants = {row.split()[4].removeprefix("!v/") for row in _espeak_table("--voices=variant")}
    return frozenset(languages), frozenset(variants)


def _espeak_table(option: str) -> list[str]:
    try:
        done = subprocess.run(["espeak-ng", option], capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SpeechError(f"cannot list espeak-ng voices: {exc}") from None
    return [row for row in done.stdout.splitlines()[1:] if len(row.split()) >= 5]


class SpeakParams(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Text to speak.")
    voice: str = Field(VOICES[0].spec, description="espeak-ng voice spec such as en-us+m3 or en+f3 "
                       "(language, then an optional +variant).")
    rate: int = Field(DEFAULT_RATE, ge=80, le=450, description="Speaking rate in words per minute.")
    pitch: int = Field(DEFAULT_PITCH, ge=0, le=99, description="Pitch on espeak-ng's 0..99 scale.")
    sample_rate: int = Field(16000, ge=8000, le=48000, description="Sample rate of the WAV in Hz.")
    out: WavOutput


class Turn(BaseModel):
    speaker: str | None = Field(min_length=1, max_length=64, description="Who speaks this turn; null when the "
                                "source does not say (such turns are read by one narrator voice).")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="What they say.")
    lang: str | None = Field(None, max_length=8, description=f"Language of this turn, one of {', '.join(LANGUAGES)}; "
                             "null: the dialogue's language.")


class SpeakDialogueParams(BaseModel):
    turns: list[Turn] = Field(min_length=1, max_length=50, description="The turns, in order.")
    voices: dict[str, str] | None = Field(None, description=f"Speaker -> espeak-ng voice spec (or {PIPER_SPEC}); "
                                          "speakers left out get distinct catalogue voices that fit their names.")
    pause_ms: int = Field(400, ge=0, le=5000, description="Silence between turns in milliseconds.")
    sample_rate: int = Field(16000, ge=8000, le=48000, description="Sample rate of the WAV in Hz.")
    language: str = Field("en", max_length=8, description=f"Language of turns that name none: {', '.join(LANGUAGES)}.")
    out: WavOutput


@tool("speak", SpeakParams, "Speak text offline with espeak-ng into a 16-bit mono WAV (edge silence trimmed).")
def speak(p: SpeakParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    try:
        samples = synthesize(p.text, p.voice, p.rate, p.pitch, p.sample_rate)
    except SpeechError as exc:
        raise ToolError(str(exc)) from None
    path = save_output(ws, p.out, samples, p.sample_rate)
    return [path], {"duration_s": len(samples) / p.sample_rate, "voice": p.voice, "engine": "espeak-ng"}


@tool("speak_dialogue", SpeakDialogueParams, "Render a dialogue with one voice per speaker (espeak-ng, and piper "
      "when installed; female or male where the name says) and a pause between turns into a 16-bit mono WAV; "
      f"turns may switch language ({', '.join(LANGUAGES)}), each speaker keeping their voice. Reports each turn's "
      "language, voice, start and end in seconds.")
def speak_dialogue(p: SpeakDialogueParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    try:
        samples, timeline = render_dialogue([t.model_dump() for t in p.turns], p.voices, p.pause_ms, p.sample_rate,
                                            p.language)
    except SpeechError as exc:
        raise ToolError(str(exc)) from None
    path = save_output(ws, p.out, samples, p.sample_rate)
    voices: dict[str, str] = {}  # each speaker's voice in their first turn; every turn records its own
    for t in timeline:
        voices.setdefault(NARRATOR if t["speaker"] is None else t["speaker"], t["voice"])
    engines = sorted({"piper" if t["voice"] == PIPER_SPEC else "espeak-ng" for t in timeline})
    return [path], {"turns": timeline, "voices": voices, "languages": sorted({t["lang"] for t in timeline}),
                    "duration_s": len(samples) / p.sample_rate, "engine": "+".join(engines)}


def clean_text(text: str) -> str:
    """Text safe to speak: control characters out, whitespace collapsed, capped; SpeechError if empty."""
    clean = " ".join(_CONTROL.sub(" ", text).split())[:MAX_TEXT_CHARS]
    if not clean:
        raise SpeechError("nothing to speak: the text is empty")
    return clean


def _check_args(voice: str, rate: int, pitch: int, sample_rate: int) -> None:
    if not _VOICE_SPEC.fullmatch(voice):
        raise SpeechError(f"voice {voice!r} is not an espeak-ng voice spec such as 'en-us+f3'")
    if not espeak_available():
        raise SpeechError("espeak-ng is not installed; run `make deps` or apt-get install espeak-ng")
    language, _, variant = voice.partition("+")
    languages, variants = installed_voices()
    if language not in languages or (variant and variant not in variants):
        raise SpeechError(f"voice {voice!r} is not installed; see `espeak-ng --voices` and `--voices=variant`")
    if not 80 <= rate <= 450:
        raise SpeechError(f"rate {rate} words/minute is outside espeak-ng's 80..450")
    if not 0 <= pitch <= 99:
        raise SpeechError(f"pitch {pitch} is outside espeak-ng's 0..99")
    if not 4000 <= sample_rate <= 192000:
        raise SpeechError(f"sample rate {sample_rate} Hz is outside 4000..192000")


def _run_espeak(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
    """Run espeak-ng on `text` (given on stdin, never through a shell); int16 PCM as float."""
    with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
        out = Path(tmp) / "speech.wav"
        cmd = ["espeak-ng", "-b", "1", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(out), "--stdin"]
        try:
            done = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SpeechError(f"espeak-ng took over {TIMEOUT_S}s for {len(text)} characters") from None
        if done.returncode != 0 or not out.is_file():
            reason = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
            raise SpeechError(f"espeak-ng failed with voice {voice!r}: {reason}")
        with wave.open(str(out), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise SpeechError("espeak-ng wrote audio that is not 16-bit mono")
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            return frames.astype(np.float32) / 32768.0, wav.getframerate()


def _trim_silence(samples: np.ndarray) -> np.ndarray:
    """Drop the exact-zero samples espeak-ng pads before and after speech."""
    voiced = np.flatnonzero(samples)
    if len(voiced) == 0:
        raise SpeechError("espeak-ng produced only silence")
    return samples[voiced[0] : voiced[-1] + 1]
