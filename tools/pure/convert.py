"""File conversion tools: audio between WAV, FLAC and MP3, images between PNG, JPEG and WebP."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.pure.audio_io import AudioOutput, conform, load_input, save_output
from tools.pure.images import SAVE_QUALITY, load_image, save_image
from tools.registry import InputPath, ToolError, Workspace, output_name, tool

WEBP_LOSSLESS = 101  # OpenCV's WebP encoder switches to lossless above quality 100


class ConvertAudioParams(BaseModel):
    input: InputPath = Field(description="Audio file to convert (WAV, FLAC, MP3, OGG, M4A, ...).")
    out: AudioOutput
    sample_rate: int | None = Field(None, ge=4000, le=192_000, description="New sample rate in Hz; kept if omitted. "
                                    "MP3 takes only 8000..48000 Hz.")
    channels: Literal[1, 2] | None = Field(None, description="1 (channels averaged) or 2 (mono copied); kept if "
                                           "omitted.")


@tool("convert_audio", ConvertAudioParams, "Convert audio to 16-bit WAV, FLAC or MP3 (format from the output's "
      "suffix) with ffmpeg under a timeout, optionally changing sample rate (band-limited) and channels.")
def convert_audio(p: ConvertAudioParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    frames, rate = load_input(ws, p.input)
    try:
        frames = conform(frames, rate, p.sample_rate, p.channels)
    except ValueError as exc:
        raise ToolError(f"cannot convert {p.input}: {exc}") from None
    rate = p.sample_rate or rate
    path = save_output(ws, p.out, frames, rate)
    return [path], {"duration_s": len(frames) / rate, "sample_rate": rate, "channels": frames.shape[1],
                    "format": path.suffix.lstrip("."), "bytes": path.stat().st_size}


class ConvertImageParams(BaseModel):
    input: InputPath = Field(description="Image to convert (PNG, JPEG, WebP, ...).")
    out: output_name(".png", ".jpg", ".jpeg", ".webp")
    quality: int = Field(SAVE_QUALITY, ge=1, le=100, description="JPEG or lossy WebP quality; PNG ignores it.")
    lossless: bool = Field(False, description="Lossless WebP (quality is then ignored); only for .webp output.")


@tool("convert_image", ConvertImageParams, "Convert an image to PNG, JPEG or WebP (format from the output's suffix). "
      "EXIF orientation is applied and transparency is flattened onto white.")
def convert_image(p: ConvertImageParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    path = ws.output(p.out)
    if p.lossless and path.suffix.lower() != ".webp":
        raise ToolError(f"lossless applies to WebP only; {p.out} is not .webp (PNG is always lossless)")
    try:
        image = load_image(ws.input(p.input))
        save_image(path, image, WEBP_LOSSLESS if p.lossless else p.quality)
    except ValueError as exc:  # UnsafeInputError included
        raise ToolError(f"cannot convert {p.input}: {exc}") from None
    height, width = image.shape[:2]
    return [path], {"width": width, "height": height, "format": path.suffix.lstrip(".").lower(),
                    "bytes": path.stat().st_size}
