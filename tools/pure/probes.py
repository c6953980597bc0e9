"""Media probes for the verifier: decode a file and report what is in it, never raising on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from tools.pure.audio_io import decode_audio
from tools.pure.images import open_image, to_bgr

CLIP_LEVEL = 0.999
SILENCE_DB = -120.0  # rms_db floor, reported for digital silence
BLANK_STD = 2.0


class AudioProbe(BaseModel):
    decodes: bool
    error: str = ""
    duration_s: float = 0.0
    sample_rate: int = 0
    channels: int = 0
    peak: float = 0.0
    clipped_fraction: float = 0.0
    rms_db: float = SILENCE_DB


class ImageProbe(BaseModel):
    decodes: bool
    error: str = ""
    width: int = 0
    height: int = 0
    channels: int = 0
    blank: bool = False


def probe_audio(path: Path) -> AudioProbe:
    """Decode `path` and measure it; undecodable or empty files give decodes=False and the reason."""
    try:
        frames, sample_rate = decode_audio(path)
    except Exception as exc:  # noqa: BLE001 - a probe reports every decoder failure instead of raising
        return AudioProbe(decodes=False, error=f"{type(exc).__name__}: {exc}")
    if frames.size == 0:
        return AudioProbe(decodes=False, error="no audio frames", sample_rate=sample_rate, channels=frames.shape[1])
    magnitude = np.abs(frames.astype(np.float64))
    rms = float(np.sqrt(np.mean(np.square(magnitude))))
    return AudioProbe(
        decodes=True,
        duration_s=frames.shape[0] / sample_rate,
        sample_rate=sample_rate,
        channels=frames.shape[1],
        peak=float(magnitude.max()),
        clipped_fraction=float(np.mean(magnitude >= CLIP_LEVEL)),
        rms_db=max(SILENCE_DB, 20 * float(np.log10(rms))) if rms > 0 else SILENCE_DB,
    )


def probe_image(path: Path) -> ImageProbe:
    """Decode `path` and describe it; blank means every channel's pixel std is below BLANK_STD."""
    try:
        im = open_image(path)
        pixels = to_bgr(im)
    except Exception as exc:  # noqa: BLE001 - a probe reports every decoder failure instead of raising
        return ImageProbe(decodes=False, error=f"{type(exc).__name__}: {exc}")
    channel_std = pixels.reshape(-1, pixels.shape[2]).std(axis=0)
    return ImageProbe(
        decodes=True,
        width=im.width,
        height=im.height,
        channels=len(im.getbands()),
        blank=bool(channel_std.max() < BLANK_STD),
    )
