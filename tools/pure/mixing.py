"""Mixing tools on pydub: concatenate, overlay, place sources on a stereo stage, change gain, resample,
convert channels.

Files are decoded and written by tools.pure.audio (size and duration caps, ffmpeg under a timeout, no
playlists), not by pydub's own unguarded ffmpeg call. Sample rates are matched with tools.pure.audio's
band-limited resampler, because pydub's set_frame_rate (audioop.ratecv) aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator
from pydub import AudioSegment

from tools.pure.audio_io import MAX_TOOL_AUDIO_S, AudioOutput, conform, load_input, save_output
from tools.registry import InputPath, ToolError, Workspace, tool

MAX_SOURCES = 32
MAX_MS = int(MAX_TOOL_AUDIO_S * 1000)
SAMPLE_WIDTH = 4  # pydub works in 32-bit integers here, so gains and sums keep precision until the 16-bit write
FULL_SCALE = 2.0 ** (8 * SAMPLE_WIDTH - 1)
GainDb = Annotated[float, Field(ge=-60, le=24, description="Gain applied to this clip in dB.")]


def to_segment(frames: np.ndarray, sample_rate: int) -> AudioSegment:
    """(frames, channels) float audio as a 32-bit pydub segment."""
    ints = np.clip(np.round(np.asarray(frames, np.float64) * FULL_SCALE), -FULL_SCALE, FULL_SCALE - 1)
    return AudioSegment(data=ints.astype("<i4").tobytes(), sample_width=SAMPLE_WIDTH, frame_rate=sample_rate,
                        channels=frames.shape[1])


def from_segment(segment: AudioSegment) -> np.ndarray:
    """A pydub segment as (frames, channels) float32 in [-1, 1]."""
    ints = np.frombuffer(segment.set_sample_width(SAMPLE_WIDTH).raw_data, dtype="<i4")
    return (ints.reshape(-1, segment.channels) / FULL_SCALE).astype(np.float32)


def _load(ws: Workspace, rels: list[str], channels: int | None = None) -> tuple[list[AudioSegment], int]:
    """Decode `rels` as segments sharing the highest sample rate and channel count (or `channels`).

    Together they may last at most MAX_TOOL_AUDIO_S, which bounds the memory one call can take.
    """
    decoded, total = [], 0.0
    for rel in rels:
        frames, rate = load_input(ws, rel)
        if frames.shape[1] > 2:
            raise ToolError(f"{rel} has {frames.shape[1]} channels; the mixing tools take mono or stereo")
        total += len(frames) / rate
        if total > MAX_TOOL_AUDIO_S:
            raise ToolError(f"the inputs last over {MAX_TOOL_AUDIO_S:g} s together, the cap for one call")
        decoded.append((frames, rate))
    rate = max(r for _, r in decoded)
    width = channels or max(f.shape[1] for f, _ in decoded)
    return [to_segment(conform(f, r, rate, width), rate) for f, r in decoded], rate


def _silence(frames: int, rate: int, channels: int) -> AudioSegment:
    return to_segment(np.zeros((frames, channels), np.float32), rate)


def _ms_to_frames(ms: int, rate: int) -> int:
    """The frame pydub's overlay starts at for a position in ms (it truncates)."""
    return int(ms * rate / 1000)


def _overlay(base: AudioSegment, layer: AudioSegment, position_ms: int) -> AudioSegment:
    """pydub's overlay, keeping exactly the base's frames.

    pydub slices the base at its length rounded to a whole ms, which drops or pads up to half a ms
    at the end, so the base gets 2 ms of silent padding first and is cut back afterwards.
    """
    frames = int(base.frame_count())
    padded = base + _silence(_ms_to_frames(2, base.frame_rate) + 1, base.frame_rate, base.channels)
    return padded.overlay(layer, position=position_ms).get_sample_slice(0, frames)


def _save(ws: Workspace, out: str, segment: AudioSegment, **values: Any) -> tuple[list[Path], dict[str, Any]]:
    path = save_output(ws, out, from_segment(segment), segment.frame_rate)
    return [path], {"duration_s": segment.frame_count() / segment.frame_rate, "sample_rate": segment.frame_rate,
                    "channels": segment.channels, "peak_dbfs": round(segment.max_dBFS, 2), **values}


class ConcatParams(BaseModel):
    # Marked as a whole too: the registry records inputs from top-level fields only.
    inputs: list[InputPath] = Field(min_length=1, max_length=MAX_SOURCES, json_schema_extra={"input_path": True},
                                    description="Clips to join, in order.")
    gap_ms: int = Field(0, ge=0, le=60_000, description="Silence between consecutive clips in ms.")
    crossfade_ms: int = Field(0, ge=0, le=60_000, description="Overlap with a linear crossfade between clips in ms.")
    out: AudioOutput

    @model_validator(mode="after")
    def _gap_or_crossfade(self) -> ConcatParams:
        if self.gap_ms and self.crossfade_ms:
            raise ValueError("use gap_ms or crossfade_ms, not both")
        return self


@tool("concat_audio", ConcatParams, "Join clips end to end, with silence or a crossfade between them. Clips are "
      "brought to the highest sample rate and channel count among them. Reports where each clip starts.")
def concat_audio(p: ConcatParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    segments, rate = _load(ws, p.inputs)
    gap = _silence(_ms_to_frames(p.gap_ms, rate), rate, segments[0].channels)
    result, placed = segments[0], [{"source": p.inputs[0], "start_s": 0.0}]
    for rel, segment in zip(p.inputs[1:], segments[1:], strict=True):
        try:
            result = (result + gap).append(segment, crossfade=p.crossfade_ms)
        except ValueError as exc:  # a crossfade longer than a clip
            raise ToolError(f"cannot append {rel}: {exc}") from None
        start = result.frame_count() - segment.frame_count()
        placed.append({"source": rel, "start_s": round(start / rate, 6)})
    return _save(ws, p.out, result, segments=placed)


class Overlay(BaseModel):
    source: InputPath = Field(description="Clip to lay over the base.")
    offset_ms: int = Field(0, ge=0, le=MAX_MS, description="Where the clip starts, in ms from the base's start.")
    gain_db: GainDb = 0.0


class OverlayParams(BaseModel):
    base: InputPath = Field(description="The clip the others are laid over; it sets the output's length.")
    overlays: list[Overlay] = Field(min_length=1, max_length=MAX_SOURCES, description="Clips to lay over it.")
    out: AudioOutput


@tool("overlay_audio", OverlayParams, "Lay clips over a base clip at given offsets and gains (summed, saturating at "
      "full scale). The output has the base's length: overlays are cut where the base ends.")
def overlay_audio(p: OverlayParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    base, *layers = _load(ws, [p.base, *(o.source for o in p.overlays)])[0]
    result = base
    for overlay, layer in zip(p.overlays, layers, strict=True):
        if overlay.offset_ms >= len(base):
            raise ToolError(f"{overlay.source} starts at {overlay.offset_ms} ms, after the base ends ({len(base)} ms)")
        result = _overlay(result, layer.apply_gain(overlay.gain_db), overlay.offset_ms)
    return _save(ws, p.out, result)


class Placed(BaseModel):
    source: InputPath = Field(description="Clip to place.")
    start_ms: int = Field(0, ge=0, le=MAX_MS, description="Where the clip starts in the scene, in ms.")
    gain_db: GainDb = 0.0
    pan: float = Field(0.0, ge=-1, le=1, description="Stereo position: -1 hard left, 0 centre, 1 hard right.")


class PlaceParams(BaseModel):
    sources: list[Placed] = Field(min_length=1, max_length=MAX_SOURCES, description="Clips to place in the scene.")
    channels: Literal["stereo", "mono"] = Field("stereo", description="Output channels; pan needs stereo.")
    out: AudioOutput


@tool("place_sources", PlaceParams, "Build a scene from clips, each at its own start time, gain and stereo pan, on "
      "silence as long as the last clip's end. Pan uses pydub's law: centre leaves both channels at unity, "
      "hard left/right silences the other side and boosts this one by 3 dB.")
def place_sources(p: PlaceParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    if p.channels == "mono" and any(s.pan for s in p.sources):
        raise ToolError("pan needs stereo output; set channels to stereo or every pan to 0")
    channels = 1 if p.channels == "mono" else None
    segments, rate = _load(ws, [s.source for s in p.sources], channels)
    ends = [_ms_to_frames(s.start_ms, rate) + int(g.frame_count()) for s, g in zip(p.sources, segments, strict=True)]
    scene = _silence(max(ends), rate, 1 if channels else 2)
    for placed, segment in zip(p.sources, segments, strict=True):
        gained = segment.apply_gain(placed.gain_db)
        scene = _overlay(scene, gained if channels else gained.pan(placed.pan), placed.start_ms)
    return _save(ws, p.out, scene)


class GainParams(BaseModel):
    input: InputPath = Field(description="Clip to change.")
    gain_db: float | None = Field(None, ge=-60, le=60, description="Relative gain in dB.")
    target_dbfs: float | None = Field(None, ge=-60, le=0, description="Normalise so the RMS level is this many dBFS.")
    out: AudioOutput

    @model_validator(mode="after")
    def _one_of(self) -> GainParams:
        if (self.gain_db is None) == (self.target_dbfs is None):
            raise ValueError("give exactly one of gain_db and target_dbfs")
        return self


@tool("change_gain", GainParams, "Change a clip's level by a relative gain in dB, or normalise its RMS level to a "
      "target dBFS. Samples past full scale are clipped; peak_dbfs in the result shows how close it came.")
def change_gain(p: GainParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    (segment,), _ = _load(ws, [p.input])
    before = segment.dBFS
    if p.target_dbfs is not None and before == float("-inf"):
        raise ToolError(f"{p.input} is silent; it cannot be normalised")
    gain = p.gain_db if p.gain_db is not None else p.target_dbfs - before
    result = segment.apply_gain(gain)
    return _save(ws, p.out, result, gain_db=round(gain, 3), dbfs_before=round(before, 3),
                 dbfs_after=round(result.dBFS, 3))


class ResampleParams(BaseModel):
    input: InputPath = Field(description="Clip to resample.")
    sample_rate: int = Field(ge=4000, le=192_000, description="New sample rate in Hz.")
    out: AudioOutput


@tool("resample_audio", ResampleParams, "Change a clip's sample rate with band-limited (FFT) resampling.")
def resample_audio(p: ResampleParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    (segment,), rate = _load(ws, [p.input])
    return _save(ws, p.out, to_segment(conform(from_segment(segment), rate, p.sample_rate), p.sample_rate))


class ChannelsParams(BaseModel):
    input: InputPath = Field(description="Clip to convert.")
    channels: Literal["mono", "stereo"] = Field(description="mono averages the channels; stereo copies mono to both.")
    out: AudioOutput


@tool("convert_channels", ChannelsParams, "Convert a clip to mono (channels averaged) or stereo (mono copied).")
def convert_channels(p: ChannelsParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    (segment,), _ = _load(ws, [p.input], 1 if p.channels == "mono" else 2)
    return _save(ws, p.out, segment)
