"""convert_audio and convert_image, called through the registry; round trips measured on the files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.pure.audio_io import decode_audio, write_wav
from tools.pure.images import load_image
from tools.pure.speech import espeak_available, synthesize
from tools.registry import ToolError, Workspace, call

SR = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return synthesize("Four hundred and twelve boxes arrived this morning.", "en-us+m3", sample_rate=SR)


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(run_dir=tmp_path / "run", read_roots=(tmp_path / "pool",))


@pytest.fixture()
def picture(ws: Workspace) -> str:
    """A 200x300 picture with flat areas, edges, text and noise-like texture."""
    rng = np.random.default_rng(0)
    img = np.full((200, 300, 3), 230, np.uint8)
    cv2.rectangle(img, (20, 20), (120, 110), (40, 90, 200), -1)
    cv2.putText(img, "C 7", (40, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (10, 10, 10), 3)
    img[120:200, 180:300] = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
    path = ws.read_roots[0] / "picture.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return "picture.png"


def media(ws: Workspace, name: str) -> Path:
    return ws.run_dir / "media" / name


def write_speech(ws: Workspace, speech: np.ndarray, name: str = "s.wav", channels: int = 1) -> str:
    write_wav(ws.read_roots[0] / name, np.repeat(speech[:, None], channels, axis=1), SR)
    return name


def test_wav_flac_wav_is_sample_identical(ws: Workspace, speech: np.ndarray) -> None:
    source = write_speech(ws, speech, channels=2)
    flac = call("convert_audio", {"input": source, "out": "s.flac"}, ws)
    assert flac.values["format"] == "flac" and flac.values["channels"] == 2
    assert flac.values["bytes"] < (ws.read_roots[0] / source).stat().st_size
    call("convert_audio", {"input": "media/s.flac", "out": "back.wav"}, ws)
    original = (ws.read_roots[0] / source).read_bytes()
    assert media(ws, "back.wav").read_bytes() == original  # same samples and the same header


def test_wav_mp3_wav_keeps_duration_and_waveform(ws: Workspace, speech: np.ndarray) -> None:
    source = write_speech(ws, speech)
    call("convert_audio", {"input": source, "out": "s.mp3"}, ws)
    call("convert_audio", {"input": "media/s.mp3", "out": "back.wav"}, ws)
    back, rate = decode_audio(media(ws, "back.wav"))
    original, _ = decode_audio(ws.read_roots[0] / source)
    assert rate == SR
    assert abs(len(back) - len(original)) / SR < 0.060
    n = min(len(back), len(original))
    assert np.corrcoef(back[:n, 0], original[:n, 0])[0, 1] > 0.95


def test_convert_changes_rate_and_channels(ws: Workspace, speech: np.ndarray) -> None:
    source = write_speech(ws, speech)
    result = call("convert_audio", {"input": source, "out": "s.flac", "sample_rate": 44100, "channels": 2}, ws)
    frames, rate = decode_audio(media(ws, "s.flac"))
    assert (rate, frames.shape[1]) == (44100, 2) == (result.values["sample_rate"], result.values["channels"])
    assert len(frames) == round(len(speech) * 44100 / SR)
    assert result.values["duration_s"] == pytest.approx(len(speech) / SR, abs=1e-4)


def test_convert_refusals(ws: Workspace, speech: np.ndarray) -> None:
    source = write_speech(ws, speech)
    with pytest.raises(ToolError, match="MP3 cannot hold 96000 Hz"):
        call("convert_audio", {"input": source, "out": "s.mp3", "sample_rate": 96000}, ws)
    with pytest.raises(ToolError, match="must end in"):
        call("convert_audio", {"input": source, "out": "s.ogg"}, ws)
    write_wav(ws.read_roots[0] / "six.wav", np.zeros((SR, 6), np.float32), SR)
    with pytest.raises(ToolError, match="6 channels to 2"):
        call("convert_audio", {"input": "six.wav", "out": "s.wav", "channels": 2}, ws)


@pytest.mark.parametrize("out", ["s.wav", "s.flac", "s.mp3"])
def test_audio_conversion_is_byte_deterministic(ws: Workspace, speech: np.ndarray, out: str) -> None:
    source = write_speech(ws, speech)
    first = media(ws, call("convert_audio", {"input": source, "out": out}, ws).outputs[0].split("/")[-1]).read_bytes()
    call("convert_audio", {"input": source, "out": "again" + Path(out).suffix}, ws)
    assert media(ws, "again" + Path(out).suffix).read_bytes() == first


def test_png_webp_lossless_png_is_pixel_identical(ws: Workspace, picture: str) -> None:
    webp = call("convert_image", {"input": picture, "out": "p.webp", "lossless": True}, ws)
    assert webp.values == {"width": 300, "height": 200, "format": "webp", "bytes": media(ws, "p.webp").stat().st_size}
    call("convert_image", {"input": "media/p.webp", "out": "back.png"}, ws)
    assert np.array_equal(load_image(media(ws, "back.png")), load_image(ws.read_roots[0] / picture))


def test_lower_jpeg_quality_gives_smaller_files(ws: Workspace, picture: str) -> None:
    sizes = [call("convert_image", {"input": picture, "out": f"q{q}.jpg", "quality": q}, ws).values["bytes"]
             for q in (95, 75, 40, 10)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    lossy = call("convert_image", {"input": picture, "out": "lossy.webp", "quality": 30}, ws).values["bytes"]
    assert lossy < media(ws, "q95.jpg").stat().st_size


@pytest.mark.parametrize("out", ["x.png", "x.jpg", "x.webp"])
def test_image_conversion_is_byte_deterministic(ws: Workspace, picture: str, out: str) -> None:
    call("convert_image", {"input": picture, "out": out, "quality": 80}, ws)
    first = media(ws, out).read_bytes()
    call("convert_image", {"input": picture, "out": out, "quality": 80}, ws)
    assert media(ws, out).read_bytes() == first


def test_image_refusals(ws: Workspace, picture: str, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="lossless applies to WebP only"):
        call("convert_image", {"input": picture, "out": "x.jpg", "lossless": True}, ws)
    (ws.read_roots[0] / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ToolError, match="fake.png"):
        call("convert_image", {"input": "fake.png", "out": "x.png"}, ws)
    (ws.read_roots[0] / "link.png").symlink_to(tmp_path / "pool" / ".." / "elsewhere.png")
    cv2.imwrite(str(tmp_path / "elsewhere.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ToolError, match="leaves its root"):
        call("convert_image", {"input": "link.png", "out": "x.png"}, ws)
    with pytest.raises(ToolError, match="absolute"):
        call("convert_image", {"input": str(tmp_path / "elsewhere.png"), "out": "x.png"}, ws)
