"""Seeded noise, exact-SNR mixing, WAV input/output and pitch estimation."""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Literal

import numpy as np

from tools.safety import check_media_file
from tools.speech import VOICES, synthesize

NoiseKind = Literal["white", "pink", "babble"]
NOISE_RMS = 0.1  # every noise kind comes out at this RMS, so kinds are interchangeable
HEADROOM = 0.99  # mixtures peak at most here, clear of 16-bit clipping
FFMPEG_TIMEOUT_S = 60
# Containers ffmpeg may open; playlists and concat lists (which pull in other files) are refused.
AUDIO_CONTAINERS = {
    "wav", "w64", "mp3", "flac", "ogg", "mov", "mp4", "m4a", "matroska", "webm", "aac", "aiff", "caf",
}
BABBLE_TALKERS = 6
BABBLE_SENTENCES = (
    "The quarterly report is due on Friday, so please send your figures before noon.",
    "I think the train leaves from platform nine, but let me check the timetable again.",
    "Could you pass me the salt and the pepper, and maybe a little more bread as well?",
    "Yesterday the weather turned cold and everyone at the market was wearing heavy coats.",
    "She said the meeting had been moved to the small room on the third floor.",
    "We should plant the tomatoes in spring, once the last frost has passed.",
)


def noise(
    kind: NoiseKind, n: int, sample_rate: int, seed: int, babble_source: np.ndarray | None = None
) -> np.ndarray:
    """`n` samples of seeded noise at RMS NOISE_RMS, float32.

    pink: white noise shaped to a 1/f power spectrum. babble: BABBLE_TALKERS randomly shifted
    copies of `babble_source`, or of espeak-ng sentences in several voices when it is None.
    """
    if n <= 0:
        raise ValueError(f"noise length must be positive, got {n}")
    rng = np.random.default_rng(seed)
    if kind == "white":
        raw = rng.standard_normal(n)
    elif kind == "pink":
        raw = _pink(rng.standard_normal(n))
    elif kind == "babble":
        source = _default_babble(sample_rate) if babble_source is None else np.asarray(babble_source, np.float64)
        raw = _babble(source, n, rng)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; use white, pink or babble")
    return (raw * (NOISE_RMS / _rms(raw))).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Add `noise` (tiled from its start, or cropped, to the speech length) to `speech` at `snr_db`.

    Power is the mean square over the whole signal. If the mixture would peak above HEADROOM,
    mixture and clean reference are scaled down together, which leaves the SNR unchanged.
    Returns (mixture, clean_scaled) as float32.
    """
    clean = np.asarray(speech, dtype=np.float64)
    if clean.ndim != 1 or len(clean) == 0:
        raise ValueError("speech must be a non-empty mono array")
    if not np.isfinite(snr_db):
        raise ValueError(f"SNR must be a finite number of dB, got {snr_db}")
    fitted = np.resize(np.asarray(noise, dtype=np.float64), len(clean))
    p_speech, p_noise = _power(clean), _power(fitted)
    if p_speech == 0 or p_noise == 0:
        raise ValueError("speech and noise must both have non-zero power")
    mixture = clean + fitted * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    peak = float(np.max(np.abs(mixture)))
    factor = HEADROOM / peak if peak > HEADROOM else 1.0
    return (mixture * factor).astype(np.float32), (clean * factor).astype(np.float32)


def measure_snr(clean: np.ndarray, mixture: np.ndarray) -> float:
    """SNR in dB of `mixture` against its clean reference (noise = mixture - clean)."""
    ref = np.asarray(clean, dtype=np.float64)
    mix = np.asarray(mixture, dtype=np.float64)
    if ref.shape != mix.shape:
        raise ValueError(f"clean {ref.shape} and mixture {mix.shape} differ in shape")
    p_noise = _power(mix - ref)
    return float("inf") if p_noise == 0 else float(10 * np.log10(_power(ref) / p_noise))


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM atomically; samples are clipped to [-1, 1]."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"write_wav takes mono samples, got shape {x.shape}")
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    write_atomic(path, buffer.getvalue())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 mono (channels averaged) and its sample rate."""
    frames, sample_rate = decode_audio(path)
    return frames.mean(axis=1, dtype=np.float64).astype(np.float32), sample_rate


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """Decode to float32 (frames, channels): PCM WAV natively, anything else via ffmpeg.

    Raises UnsafeInputError for missing or oversized files and ValueError for undecodable ones.
    """
    check_media_file(path)
    try:
        frames, sample_rate = _decode_pcm_wav(path)
    except (wave.Error, EOFError):
        frames, sample_rate = _decode_ffmpeg(path)
    if sample_rate <= 0:
        raise ValueError(f"{path.name} declares a sample rate of {sample_rate} Hz")
    return frames, sample_rate


def estimate_pitch(samples: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 500.0) -> float:
    """Median f0 in Hz over voiced frames (YIN difference function); 0.0 when nothing is voiced."""
    x = np.asarray(samples, dtype=np.float64)
    window, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    lag_min, lag_max = int(sample_rate / fmax), int(sample_rate / fmin)
    span = window + lag_max
    if len(x) < span:
        return 0.0
    frames = [x[s : s + span] for s in range(0, len(x) - span + 1, hop)]
    levels = [_rms(frame[:window]) for frame in frames]
    gate = max(0.1 * max(levels), 1e-6)  # skip pauses and breaths
    voiced = [frame for frame, level in zip(frames, levels, strict=True) if level > gate]
    lags = [_yin_lag(frame, window, lag_min, lag_max) for frame in voiced]
    f0s = [sample_rate / lag for lag in lags if lag is not None]
    return float(np.median(f0s)) if f0s else 0.0


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _yin_lag(segment: np.ndarray, window: int, lag_min: int, lag_max: int) -> float | None:
    """Period in samples from the cumulative-mean-normalised difference, or None if unvoiced."""
    head = segment[:window]
    energy = np.cumsum(np.concatenate(([0.0], segment**2)))
    shifted = energy[window : window + lag_max + 1] - energy[: lag_max + 1]
    diff = head @ head + shifted - 2 * np.correlate(segment[: window + lag_max], head, mode="valid")
    cumulative = np.cumsum(diff[1:])
    cmnd = np.ones_like(diff)
    cmnd[1:] = diff[1:] * np.arange(1, lag_max + 1) / np.maximum(cumulative, 1e-12)
    below = np.flatnonzero(cmnd[lag_min:lag_max] < 0.15)
    if len(below) == 0:
        return None
    lag = lag_min + below[0]
    while lag + 1 < lag_max and cmnd[lag + 1] < cmnd[lag]:
        lag += 1
    return _refine(cmnd, lag)


def _refine(curve: np.ndarray, i: int) -> float:
    """Parabolic interpolation of the minimum at index `i`."""
    a, b, c = curve[i - 1], curve[i], curve[i + 1]
    denom = a - 2 * b + c
    return i + (0.5 * (a - c) / denom if denom > 0 else 0.0)


def _pink(white: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(white)
    freqs = np.arange(len(spectrum), dtype=np.float64)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, len(white))


def _babble(source: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if source.ndim != 1 or _rms(source) == 0:
        raise ValueError("babble source must be non-silent mono speech")
    offsets = rng.integers(0, len(source), size=BABBLE_TALKERS)
    return sum(np.resize(np.roll(source, -int(k)), n) for k in offsets)


@functools.lru_cache(maxsize=4)
def _default_babble(sample_rate: int) -> np.ndarray:
    """Several espeak-ng sentences, one per voice, back to back (cached per sample rate)."""
    talkers = [
        synthesize(text, v.spec, v.rate, v.pitch, sample_rate)
        for text, v in zip(BABBLE_SENTENCES, VOICES, strict=False)
    ]
    source = np.concatenate(talkers).astype(np.float64)
    source.flags.writeable = False
    return source


def _decode_pcm_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        width, channels, rate, declared = wav.getsampwidth(), wav.getnchannels(), wav.getframerate(), wav.getnframes()
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


def _decode_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of a plain audio container with ffprobe + ffmpeg."""
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
    decode = ["ffmpeg", "-v", "error", "-nostdin", "-protocol_whitelist", "file", "-i", source,
              "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    raw = _run_ff(decode, path)
    samples = np.frombuffer(raw[: len(raw) - len(raw) % (4 * channels)], dtype="<f4")
    return samples.reshape(-1, channels).copy(), rate


def _run_ff(cmd: list[str], path: Path) -> bytes:
    """Run an ffmpeg tool (no shell, with a timeout); a failure raises ValueError with its last line."""
    if shutil.which(cmd[0]) is None:
        raise ValueError(f"{cmd[0]} is not installed; it is needed to decode {path.name}")
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{cmd[0]} took over {FFMPEG_TIMEOUT_S}s on {path.name}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"]
        raise ValueError(f"{cmd[0]} cannot decode {path.name}: {lines[-1]}")
    return done.stdout


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
