"""Audio files in and out: 16-bit WAV natively, FLAC and MP3 through ffmpeg (no shell, with a
timeout, plain audio containers only), resampling and channel mapping, and the size and duration
caps every audio tool applies to what it reads and writes."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from tools.files import write_atomic
from tools.registry import ToolError, Workspace, output_name
from tools.safety import UnsafeInputError, check_media_file

FFMPEG_TIMEOUT_S = 60
MAX_TOOL_AUDIO_S = 600.0  # tools refuse longer inputs and outputs: ten minutes covers any benchmark item
# Output encoders by suffix; bitexact and no metadata keep encodes byte-identical across runs.
ENCODERS = {
    ".wav": [],
    ".flac": ["-f", "flac", "-c:a", "flac"],
    ".mp3": ["-f", "mp3", "-c:a", "libmp3lame", "-q:a", "2"],
}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # ffmpeg would silently resample others
# Containers ffmpeg may open; playlists and concat lists (which pull in other files) are refused.
AUDIO_CONTAINERS = {
    "wav", "w64", "mp3", "flac", "ogg", "mov", "mp4", "m4a", "matroska", "webm", "aac", "aiff", "caf",
}


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM atomically: mono from 1-D samples, else (frames, channels); clipped to [-1, 1]."""
    pcm = _pcm16(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(pcm.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    write_atomic(path, buffer.getvalue())


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit audio atomically in the format `path`'s suffix names (see ENCODERS)."""
    suffix = path.suffix.lower()
    if suffix not in ENCODERS:
        raise ValueError(f"cannot write {path.name}: use one of {', '.join(ENCODERS)}")
    if suffix == ".wav":
        write_wav(path, samples, sample_rate)
        return
    if suffix == ".mp3" and sample_rate not in MP3_RATES:
        raise ValueError(f"MP3 cannot hold {sample_rate} Hz audio; use one of {', '.join(map(str, MP3_RATES))} Hz")
    pcm = _pcm16(samples)
    with tempfile.TemporaryDirectory(prefix="encode-") as tmp:
        encoded = Path(tmp) / f"out{suffix}"  # a real file: FLAC and MP3 headers are rewritten at the end
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-f", "s16le", "-ar", str(sample_rate),
               "-ac", str(pcm.shape[1]), "-i", "pipe:0", *ENCODERS[suffix], "-map_metadata", "-1",
               "-fflags", "+bitexact", "-flags", "+bitexact", "-y", f"file:{encoded}"]
        _run_ff(cmd, path, "encode", pcm.tobytes())
        write_atomic(path, encoded.read_bytes())


def read_wav(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 mono (channels averaged) and its sample rate."""
    frames, sample_rate = decode_audio(path, max_seconds)
    return frames.mean(axis=1, dtype=np.float64).astype(np.float32), sample_rate


def decode_audio(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode to float32 (frames, channels): PCM WAV natively, anything else via ffmpeg.

    Raises UnsafeInputError for missing or oversized files and for audio over `max_seconds`
    (checked before decoding where the header allows), and ValueError for undecodable ones.
    """
    check_media_file(path)
    try:
        frames, sample_rate = _decode_pcm_wav(path, max_seconds)
    except (wave.Error, EOFError):
        frames, sample_rate = _decode_ffmpeg(path, max_seconds)
    if sample_rate <= 0:
        raise ValueError(f"{path.name} declares a sample rate of {sample_rate} Hz")
    _check_duration(path, len(frames), sample_rate, max_seconds)
    return frames, sample_rate


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited FFT resampling (deterministic, no aliasing); float32 clipped to [-1, 1]."""
    x = np.asarray(samples, dtype=np.float64)
    if rate_in == rate_out or len(x) == 0:
        return np.clip(x, -1.0, 1.0).astype(np.float32)
    n_out = max(1, round(len(x) * rate_out / rate_in))
    spectrum = np.fft.rfft(x, axis=0)
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out, axis=0) * (n_out / len(x))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def conform(frames: np.ndarray, rate_in: int, rate_out: int | None = None, channels: int | None = None) -> np.ndarray:
    """(frames, channels) audio resampled to `rate_out` and mixed down (mean) or up (copied) to `channels`."""
    out = resample(frames, rate_in, rate_out or rate_in)
    have = out.shape[1]
    if channels is None or channels == have:
        return out
    if channels == 1:
        return out.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    if have == 1:
        return np.repeat(out, channels, axis=1)
    raise ValueError(f"cannot map {have} channels to {channels}; only mono and stereo convert")
AudioOutput = output_name(*ENCODERS)
WavOutput = output_name(".wav")


def load_input(ws: Workspace, rel: str) -> tuple[np.ndarray, int]:
    """Decode a workspace input to (frames, channels) and its rate, within the size and duration caps."""
    path = ws.input(rel)
    try:
        return decode_audio(path, MAX_TOOL_AUDIO_S)
    except ValueError as exc:  # UnsafeInputError included
        raise ToolError(f"cannot use {rel}: {exc}") from None


def save_output(ws: Workspace, name: str, samples: np.ndarray, sample_rate: int) -> Path:
    """Write a tool's audio to the run's media folder, refusing output over the duration cap."""
    if len(samples) > MAX_TOOL_AUDIO_S * sample_rate:
        raise ToolError(f"{name} would last {len(samples) / sample_rate:.1f} s, over the {MAX_TOOL_AUDIO_S:g} s cap")
    path = ws.output(name)
    try:
        write_audio(path, samples, sample_rate)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return path


def _decode_pcm_wav(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        width, channels, rate, declared = wav.getsampwidth(), wav.getnchannels(), wav.getframerate(), wav.getnframes()
        if rate > 0:
            _check_duration(path, declared, rate, max_seconds)
        raw = wav.readframes(declared)
    if len(raw) < declared * width * channels:
        raise ValueError(f"{path.name} is truncated: {len(raw) // (width * channels)} of {declared} frames present")
    if width == 1:
        ints = np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128
    elif width == 3:
        padded = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3) @ np.array([1 << 8, 1 << 16, 1 << 24])
        ints = padded.astype(np.uint32).view(np.int32).astype(np.float64) / 256
    else:
        ints = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64)
    scale = float(1 << (8 * width - 1))
    return (ints / scale).reshape(-1, channels).astype(np.float32), rate


def _decode_ffmpeg(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of a plain audio container with ffprobe + ffmpeg.

    With `max_seconds`, ffmpeg stops a second past it, so a header that lies about the duration
    cannot make it decode more.
    """
    source = f"file:{path.absolute()}"  # never read as an option, a URL or another protocol
    probe = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-of", "json",
             "-show_entries", "format=format_name:stream=sample_rate,channels", source]
    info = json.loads(_run_ff(probe, path))
    formats = set(info.get("format", {}).get("format_name", "").split(","))
    if not formats & AUDIO_CONTAINERS:
        raise ValueError(f"{path.name} is not a plain audio file (container {sorted(formats)})")
    streams = info.get("streams") or [{}]
    rate, channels = int(streams[0].get("sample_rate", 0)), int(streams[0].get("channels", 0))
    if rate <= 0 or channels <= 0:
        raise ValueError(f"{path.name} has no audio stream")
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + 1:g}"]
    decode = ["ffmpeg", "-v", "error", "-nostdin", "-protocol_whitelist", "file", "-i", source,
              "-map", "0:a:0", *limit, "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    raw = _run_ff(decode, path)
    samples = np.frombuffer(raw[: len(raw) - len(raw) % (4 * channels)], dtype="<f4")
    return samples.reshape(-1, channels).copy(), rate


def _run_ff(cmd: list[str], path: Path, action: str = "decode", stdin: bytes | None = None) -> bytes:
    """Run an ffmpeg tool (no shell, with a timeout); a failure raises ValueError with its last line."""
    if shutil.which(cmd[0]) is None:
        raise ValueError(f"{cmd[0]} is not installed; it is needed to {action} {path.name}")
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{cmd[0]} took over {FFMPEG_TIMEOUT_S}s on {path.name}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"]
        raise ValueError(f"{cmd[0]} cannot {action} {path.name}: {lines[-1]}")
    return done.stdout


def _check_duration(path: Path, frames: int, sample_rate: int, max_seconds: float | None) -> None:
    if max_seconds is not None and frames > max_seconds * sample_rate:
        # "at least": ffmpeg stops decoding a second past the cap
        raise UnsafeInputError(f"{path.name} is over the {max_seconds:g} s cap (at least {frames / sample_rate:.1f} s)")


def _pcm16(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) little-endian int16; full scale is 32768, so 16-bit input reads back exactly."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not 1 <= x.shape[1] <= 8:
        raise ValueError(f"expected mono samples or (frames, channels) with 1..8 channels, got shape {x.shape}")
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")
