"""Noise, SNR mixing, WAV input/output, pitch and audio probes, measured on files written to disk."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from tools.pure.audio import NOISE_RMS, estimate_pitch, measure_snr, mix_at_snr, noise
from tools.pure.audio_io import MAX_TOOL_AUDIO_S, decode_audio, read_wav, write_audio, write_wav
from tools.pure.probes import probe_audio
from tools.pure.speech import espeak_available, synthesize
from tools.registry import ToolError, Workspace, call
from tools.safety import UnsafeInputError

SR = 16000
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


def harmonic(f0: float, seconds: float, sample_rate: int = SR) -> np.ndarray:
    """A voiced, syllable-modulated test signal with silent stretches, like speech."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    return (0.3 * tone * envelope).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if espeak_available():
        return synthesize("The meeting moved to Thursday at half past two in the main hall.", "en-us+m3", 160, 50, SR)
    return harmonic(120, 3.0)


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr_db", [0, 5, 10, 20])
def test_snr_survives_16bit_files(tmp_path: Path, speech: np.ndarray, kind: str, snr_db: float) -> None:
    source = None if kind != "babble" or espeak_available() else harmonic(180, 4.0)
    mixture, clean = mix_at_snr(speech, noise(kind, len(speech), SR, seed=7, babble_source=source), snr_db)
    assert measure_snr(clean, mixture) == pytest.approx(snr_db, abs=1e-3)
    write_wav(tmp_path / "mix.wav", mixture, SR)
    write_wav(tmp_path / "clean.wav", clean, SR)
    mix_read, rate = read_wav(tmp_path / "mix.wav")
    clean_read, _ = read_wav(tmp_path / "clean.wav")
    assert rate == SR
    assert measure_snr(clean_read, mix_read) == pytest.approx(snr_db, abs=0.5)


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_noise_is_seeded_and_normalised(tmp_path: Path, kind: str) -> None:
    a, b, c = (noise(kind, SR, SR, seed=s) for s in (1, 1, 2))
    assert a.dtype == np.float32 and len(a) == SR
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(NOISE_RMS, rel=1e-4)
    write_wav(tmp_path / "a.wav", a, SR)
    write_wav(tmp_path / "b.wav", b, SR)
    write_wav(tmp_path / "c.wav", c, SR)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "c.wav").read_bytes()


@needs_espeak
def test_default_babble_is_seeded_speech(tmp_path: Path) -> None:
    a, b, c = (noise("babble", 2 * SR, SR, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    power = np.abs(np.fft.rfft(a.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / SR)
    assert power[freqs < 4000].sum() > 0.8 * power.sum()  # speech band, unlike white noise
    frame_rms = np.sqrt(np.mean(a.reshape(-1, 320).astype(np.float64) ** 2, axis=1))
    assert np.mean(frame_rms < 0.1 * NOISE_RMS) < 0.05  # overlapping talkers leave few silent gaps


def test_pink_spectrum_falls_with_frequency() -> None:
    x = noise("pink", 2**18, SR, seed=0).astype(np.float64)
    frames = x.reshape(-1, 4096) * np.hanning(4096)
    psd = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(4096, 1 / SR)
    low = psd[(freqs >= 50) & (freqs < 500)].mean()
    high = psd[(freqs >= 4000) & (freqs < 7500)].mean()
    assert low > 10 * high
    band = (freqs >= 50) & (freqs <= 7000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]
    assert -1.3 < slope < -0.7
    white = noise("white", 2**18, SR, seed=0).astype(np.float64).reshape(-1, 4096) * np.hanning(4096)
    white_psd = np.mean(np.abs(np.fft.rfft(white, axis=1)) ** 2, axis=0)
    assert abs(np.polyfit(np.log10(freqs[band]), np.log10(white_psd[band]), 1)[0]) < 0.1


def test_loud_mix_is_scaled_without_changing_snr() -> None:
    loud = harmonic(150, 1.0) * 3.0
    mixture, clean = mix_at_snr(loud, noise("white", 1000, SR, seed=1), 0.0)
    assert np.abs(mixture).max() <= 0.99 + 1e-6
    assert len(mixture) == len(loud)  # noise tiled to the speech length
    assert measure_snr(clean, mixture) == pytest.approx(0.0, abs=1e-3)
    assert np.allclose(clean / np.abs(clean).max(), loud / np.abs(loud).max(), atol=1e-5)


def test_mix_rejects_silence() -> None:
    with pytest.raises(ValueError, match="non-zero power"):
        mix_at_snr(np.zeros(100, np.float32), noise("white", 100, SR, seed=0), 10)


def test_wav_round_trip_format_and_atomicity(tmp_path: Path) -> None:
    x = harmonic(200, 0.5)
    path = tmp_path / "sub" / "x.wav"
    write_wav(path, x, SR)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SR)
    y, rate = read_wav(path)
    assert rate == SR and y.dtype == np.float32
    assert np.abs(y - x).max() <= 1 / 32767
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]


def test_read_wav_mixes_stereo_to_mono(tmp_path: Path) -> None:
    left, right = np.full(100, 8000, "<i2"), np.full(100, -4000, "<i2")
    with wave.open(str(tmp_path / "st.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(np.stack([left, right], axis=1).tobytes())
    mono, rate = read_wav(tmp_path / "st.wav")
    assert rate == 8000 and mono.shape == (100,)
    assert np.allclose(mono, 2000 / 32768)


@pytest.mark.parametrize("f0", [90.0, 140.0, 230.0])
def test_estimate_pitch_on_known_tones(f0: float) -> None:
    assert estimate_pitch(harmonic(f0, 2.0), SR) == pytest.approx(f0, rel=0.02)


def test_estimate_pitch_of_noise_or_silence_is_not_a_voice() -> None:
    assert estimate_pitch(np.zeros(SR, np.float32), SR) == 0.0
    assert estimate_pitch(np.zeros(10, np.float32), SR) == 0.0


def test_probe_audio_measures_a_good_file(tmp_path: Path) -> None:
    x = harmonic(150, 1.5)
    x[:160] = 1.0  # 10 ms at full scale
    write_wav(tmp_path / "a.wav", x, SR)
    probe = probe_audio(tmp_path / "a.wav")
    assert probe.decodes and probe.error == ""
    assert probe.duration_s == pytest.approx(1.5)
    assert (probe.sample_rate, probe.channels) == (SR, 1)
    assert probe.peak == pytest.approx(1.0, abs=1e-4)
    assert probe.clipped_fraction == pytest.approx(160 / len(x))
    assert -30 < probe.rms_db < -5


def test_probe_audio_reports_bad_files(tmp_path: Path) -> None:
    write_wav(tmp_path / "ok.wav", harmonic(150, 1.0), SR)
    data = (tmp_path / "ok.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00junk" * 50)
    (tmp_path / "empty.wav").write_bytes(b"")
    for name, reason in [("cut.wav", "truncated"), ("junk.wav", "decode"), ("missing.wav", "missing")]:
        probe = probe_audio(tmp_path / name)
        assert not probe.decodes and reason in probe.error, probe
    assert not probe_audio(tmp_path / "empty.wav").decodes
    with pytest.raises(UnsafeInputError):
        read_wav(tmp_path / "missing.wav")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_non_wav_audio_decodes_through_ffmpeg(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", harmonic(150, 1.0), SR)
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "a.wav"), "-ac", "2", str(tmp_path / "a.flac")]
    subprocess.run(cmd, check=True)
    probe = probe_audio(tmp_path / "a.flac")
    assert probe.decodes and probe.channels == 2 and probe.duration_s == pytest.approx(1.0, abs=0.01)
    assert estimate_pitch(read_wav(tmp_path / "a.flac")[0], SR) == pytest.approx(150, rel=0.02)


# --- noise from a file, and the add_noise tool through the registry ---------------------------------


@pytest.fixture()
def ws(tmp_path: Path, speech: np.ndarray) -> Workspace:
    pool = tmp_path / "pool"
    write_wav(pool / "speech.wav", speech, SR)
    rng = np.random.default_rng(5)
    hum = 0.2 * np.sin(2 * np.pi * 100 * np.arange(4000) / 8000) + 0.05 * rng.standard_normal(4000)
    write_wav(pool / "hum8k.wav", hum, 8000)  # half a second at 8 kHz: resampled and looped
    return Workspace(run_dir=tmp_path / "run", read_roots=(pool,), seed=11)


def test_file_noise_is_seeded_looped_and_resampled(ws: Workspace) -> None:
    path = ws.input("hum8k.wav")
    a, b, c = (noise("file", 3 * SR, SR, seed=s, noise_file=path) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(NOISE_RMS, rel=1e-4)
    period = SR // 2  # the file, resampled to 16 kHz, repeats every 8000 samples
    assert np.allclose(a[:period], a[period : 2 * period]) and np.allclose(a[:period], a[2 * period : 3 * period])
    shift = next(k for k in range(period) if np.allclose(np.roll(a[:period], k), c[:period], atol=1e-6))
    assert shift > 0  # another seed starts the loop elsewhere
    with pytest.raises(ValueError, match="noise_file"):
        noise("file", 10, SR, seed=0)


@pytest.mark.parametrize("kind", ["white", "pink", "babble", "file"])
@pytest.mark.parametrize("snr_db", [0, 5, 10, 20])
def test_add_noise_tool_hits_the_snr_in_the_files(ws: Workspace, kind: str, snr_db: float) -> None:
    if kind == "babble" and not espeak_available():
        pytest.skip("default babble needs espeak-ng")
    params = {"speech": "speech.wav", "kind": kind, "snr_db": snr_db, "out": "mix.wav"}
    if kind == "file":
        params["noise_file"] = "hum8k.wav"
    result = call("add_noise", params, ws)
    assert result.outputs == ["media/mix.wav", "media/mix.clean.wav"]
    mixture, rate = read_wav(ws.run_dir / "media/mix.wav")
    clean, _ = read_wav(ws.run_dir / "media/mix.clean.wav")
    assert rate == SR and len(mixture) == len(clean)
    assert measure_snr(clean, mixture) == pytest.approx(snr_db, abs=0.5)
    assert result.values["snr_db"] == pytest.approx(snr_db, abs=0.5) and result.values["seed"] == 11


@pytest.mark.parametrize("kind", ["white", "file"])
def test_add_noise_is_byte_deterministic_under_its_seed(ws: Workspace, kind: str) -> None:
    base = {"speech": "speech.wav", "kind": kind, "snr_db": 5}
    if kind == "file":
        base["noise_file"] = "hum8k.wav"
    outputs = [call("add_noise", {**base, **extra, "out": f"{name}.wav"}, ws).outputs[0]
               for name, extra in [("a", {}), ("b", {}), ("c", {"seed": 11}), ("d", {"seed": 12})]]
    a, b, c, d = ((ws.run_dir / o).read_bytes() for o in outputs)
    assert a == b == c and a != d


def test_add_noise_parameter_refusals(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="noise_file exactly when kind is 'file'"):
        call("add_noise", {"speech": "speech.wav", "kind": "file", "snr_db": 5, "out": "m.wav"}, ws)
    with pytest.raises(ToolError, match="noise_file exactly when kind is 'file'"):
        call("add_noise", {"speech": "speech.wav", "noise_file": "hum8k.wav", "snr_db": 5, "out": "m.wav"}, ws)
    with pytest.raises(ToolError, match="must end in .wav"):
        call("add_noise", {"speech": "speech.wav", "snr_db": 5, "out": "m.mp3"}, ws)
    with pytest.raises(ToolError, match="bad parameters for add_noise: out"):
        call("add_noise", {"speech": "speech.wav", "snr_db": 5, "out": "../../evil.wav"}, ws)


def test_hostile_paths_are_refused_with_reasons(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "secret.wav").write_bytes((ws.read_roots[0] / "speech.wav").read_bytes())
    (ws.read_roots[0] / "link.wav").symlink_to(tmp_path / "secret.wav")
    hostile = [("../../etc/passwd", "leaves its root"), ("/etc/passwd", "absolute"),
               (str(tmp_path / "secret.wav"), "absolute"), ("link.wav", "leaves its root"),
               ("file:///etc/passwd", "URL"), ("missing.wav", "does not exist")]
    for path, reason in hostile:
        with pytest.raises(ToolError, match=reason):
            call("add_noise", {"speech": path, "snr_db": 5, "out": "m.wav"}, ws)
        with pytest.raises(ToolError, match=reason):
            call("add_noise", {"speech": "speech.wav", "kind": "file", "noise_file": path, "snr_db": 5,
                               "out": "m.wav"}, ws)
    assert not (ws.run_dir / "media" / "m.wav").exists()


def test_oversize_and_overlong_audio_are_refused(ws: Workspace) -> None:
    pool = ws.read_roots[0]
    with open(pool / "huge.wav", "wb") as fh:  # sparse: 60 MB on paper, nothing on disk
        fh.write((pool / "speech.wav").read_bytes()[:44])
        fh.truncate(60 * 1024 * 1024)
    with pytest.raises(ToolError, match="over the 52428800-byte cap"):
        call("add_noise", {"speech": "huge.wav", "snr_db": 5, "out": "m.wav"}, ws)
    write_wav(pool / "long.wav", np.full(601 * 4000, 0.1, np.float32), 4000)
    with pytest.raises(ToolError, match=r"long.wav is over the 600 s cap \(at least 601.0 s\)"):
        call("add_noise", {"speech": "long.wav", "snr_db": 5, "out": "m.wav"}, ws)
    with pytest.raises(ToolError, match=r"over the 600 s cap"):
        call("add_noise", {"speech": "speech.wav", "kind": "file", "noise_file": "long.wav", "snr_db": 5,
                           "out": "m.wav"}, ws)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_overlong_compressed_audio_is_cut_off_before_it_is_all_decoded(tmp_path: Path) -> None:
    write_wav(tmp_path / "long.wav", np.full(700 * 4000, 0.1, np.float32), 4000)
    write_audio(tmp_path / "long.flac", read_wav(tmp_path / "long.wav")[0], 4000)
    with pytest.raises(UnsafeInputError, match=r"over the 600 s cap \(at least 601.0 s\)"):  # ffmpeg stopped at 601 s
        decode_audio(tmp_path / "long.flac", MAX_TOOL_AUDIO_S)
    assert len(decode_audio(tmp_path / "long.flac")[0]) == 700 * 4000


def test_16bit_audio_reads_and_writes_back_exactly(tmp_path: Path) -> None:
    pcm = np.random.default_rng(0).integers(-32768, 32768, size=(4000, 2), dtype=np.int64)
    x = (pcm / 32768).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, SR)
    frames, _ = decode_audio(tmp_path / "a.wav")
    assert np.array_equal(frames, x)
    write_wav(tmp_path / "b.wav", frames, SR)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    if shutil.which("ffmpeg"):
        write_audio(tmp_path / "a.flac", frames, SR)
        assert np.array_equal(decode_audio(tmp_path / "a.flac")[0], x)
    with pytest.raises(ValueError, match="use one of"):
        write_audio(tmp_path / "a.aiff", frames, SR)
