"""Seeded noise (synthetic or from a file), exact-SNR mixing, pitch estimation, and the add_noise tool."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from tools.pure.audio_io import MAX_TOOL_AUDIO_S, WavOutput, load_input, read_wav, resample, save_output
from tools.registry import InputPath, ToolError, Workspace, tool

NoiseKind = Literal["white", "pink", "babble", "file"]
NOISE_RMS = 0.1  # every noise kind comes out at this RMS, so kinds are interchangeable
HEADROOM = 0.99  # mixtures peak at most here, clear of 16-bit clipping
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
    from tools.pure.speech import VOICES, synthesize  # here, not at the top: tools.pure.speech imports this module

    talkers = [
        synthesize(text, v.spec, v.rate, v.pitch, sample_rate)
        for text, v in zip(BABBLE_SENTENCES, VOICES, strict=False)
    ]
    source = np.concatenate(talkers).astype(np.float64)
    source.flags.writeable = False
    return source


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
