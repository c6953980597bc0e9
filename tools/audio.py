"""Seeded noise (synthetic or from a file), exact-SNR mixing, audio file input/output, resampling,
pitch estimation, and the add_noise tool."""

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
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, Field, model_validator

from tools.registry import InputPath, OutputName, ToolError, Workspace, tool
from tools.safety import UnsafeInputError, check_media_file

NoiseKind = Literal["white", "pink", "babble", "file"]
NOISE_RMS = 0.1  # every noise kind comes out at this RMS, so kinds are interchangeable
HEADROOM = 0.99  # mixtures peak at most here, clear of 16-bit clipping
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
    kind: NoiseKind, n: int, sample_rate: int, seed: int, babble_source: np.ndarray | None = None,
    noise_file: Path | None = None,
) -> np.ndarray:
    """`n` samples of seeded noise at RMS NOISE_RMS, float32.

    pink: white noise shaped to a 1/f power spectrum. babble: BABBLE_TALKERS randomly shifted
    copies of `babble_source`, or of espeak-ng sentences in several voices when it is None.
    file: `noise_file` (at most MAX_TOOL_AUDIO_S, mixed to mono, resampled) from a seeded offset,
    looped or cropped to `n`.
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
    elif kind == "file":
        if noise_file is None:
            raise ValueError("file noise needs a noise_file")
        samples, rate = read_wav(noise_file, MAX_TOOL_AUDIO_S)
        source = resample(samples, rate, sample_rate).astype(np.float64)
        if _rms(source) == 0:
            raise ValueError(f"{noise_file.name} is silent, so it cannot be noise")
        raw = _looped(source, n, int(rng.integers(len(source))))
    else:
        raise ValueError(f"unknown noise kind {kind!r}; use white, pink, babble or file")
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


def output_name(*suffixes: str) -> Any:
    """An OutputName type that must end in one of `suffixes`, checked before any work is done."""

    def check(name: str) -> str:
        if Path(name).suffix.lower() not in suffixes:
            raise ValueError(f"{name} must end in {' or '.join(suffixes)}")
        return name

    described = Field(description=f"File name to write in the run's media folder, ending in {', '.join(suffixes)}.")
    return Annotated[OutputName, AfterValidator(check), described]


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


class AddNoiseParams(BaseModel):
    speech: InputPath = Field(description="Speech to add noise to; channels are mixed to mono.")
    kind: NoiseKind = Field("white", description="white, pink (1/f), babble (six espeak-ng talkers) or file.")
    noise_file: InputPath | None = Field(
        None, description="Noise recording for kind 'file': looped or cropped to the speech, from a seeded offset.")
    snr_db: float = Field(ge=-20, le=60, description="Signal-to-noise ratio of the mixture in dB.")
    seed: int | None = Field(None, ge=0, description="Noise seed; the workspace's seed when omitted.")
    out: WavOutput

    @model_validator(mode="after")
    def _file_iff_kind_file(self) -> AddNoiseParams:
        if (self.kind == "file") != (self.noise_file is not None):
            raise ValueError("give noise_file exactly when kind is 'file'")
        return self


@tool("add_noise", AddNoiseParams, "Mix noise into speech at an exact SNR. Writes the 16-bit mixture and, "
      "beside it as <name>.clean.wav, the speech scaled as it is in the mixture; reports the SNR measured "
      "on the written files.")
def add_noise(p: AddNoiseParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    frames, rate = load_input(ws, p.speech)
    speech = frames.mean(axis=1, dtype=np.float64)
    noise_path = ws.input(p.noise_file) if p.noise_file else None
    seed = ws.seed if p.seed is None else p.seed
    try:
        mixture, clean = mix_at_snr(speech, noise(p.kind, len(speech), rate, seed, noise_file=noise_path), p.snr_db)
    except ValueError as exc:
        raise ToolError(f"cannot add {p.kind} noise to {p.speech}: {exc}") from None
    mix_path = save_output(ws, p.out, mixture, rate)
    clean_path = save_output(ws, Path(p.out).with_suffix(".clean.wav").name, clean, rate)
    measured = measure_snr(read_wav(clean_path)[0], read_wav(mix_path)[0])
    return [mix_path, clean_path], {"snr_db": round(measured, 3), "kind": p.kind, "seed": seed,
                                    "duration_s": len(mixture) / rate, "sample_rate": rate}


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
    return sum(_looped(source, n, int(k)) for k in offsets)


def _looped(source: np.ndarray, n: int, offset: int) -> np.ndarray:
    """`n` samples of `source` starting at `offset`, wrapping round to its start as often as needed."""
    return np.resize(np.roll(source, -offset), n)


@functools.lru_cache(maxsize=4)
def _default_babble(sample_rate: int) -> np.ndarray:
    """Several espeak-ng sentences, one per voice, back to back (cached per sample rate)."""
    from tools.speech import VOICES, synthesize  # here, not at the top: tools.speech imports this module

    talkers = [
        synthesize(text, v.spec, v.rate, v.pitch, sample_rate)
        for text, v in zip(BABBLE_SENTENCES, VOICES, strict=False)
    ]
    source = np.concatenate(talkers).astype(np.float64)
    source.flags.writeable = False
    return source


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


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
