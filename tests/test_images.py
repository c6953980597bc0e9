"""Image perturbations, loading, saving and probes on real encoded files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tools.images import PERTURBATIONS, load_image, perturb, save_image
from tools.probes import probe_image
from tools.safety import UnsafeInputError


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A 240x320 BGR picture with edges, text and texture, so every op has something to change."""
    rng = np.random.default_rng(0)
    img = np.full((240, 320, 3), 235, np.uint8)
    cv2.rectangle(img, (20, 20), (140, 120), (40, 90, 200), -1)
    cv2.circle(img, (230, 90), 50, (30, 160, 60), -1)
    cv2.putText(img, "B 42", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (10, 10, 10), 3)
    img[150:240, 200:320] = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    return img


def high_frequency_energy(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(gray, cv2.CV_64F) ** 2))


def test_defaults_cover_every_op_and_keep_content(scene: np.ndarray) -> None:
    assert set(PERTURBATIONS) == {"resize", "blur", "noise", "jpeg"}
    for op in PERTURBATIONS:
        out = perturb(scene, op, seed=1)
        assert out.dtype == np.uint8 and out.ndim == 3
        back = cv2.resize(out, (scene.shape[1], scene.shape[0]), interpolation=cv2.INTER_LINEAR)
        region = (slice(0, 140), slice(0, 320))  # shapes only, no random texture
        assert np.mean(np.abs(back[region].astype(int) - scene[region])) < 10, op


@pytest.mark.parametrize(
    ("params", "size"),
    [({"width": 100, "height": 50}, (50, 100)), ({"width": 160}, (120, 160)), ({"height": 60}, (60, 80)),
     ({"scale": 0.5}, (120, 160)), ({}, (180, 240))],
)
def test_resize_gives_requested_size(scene: np.ndarray, params: dict, size: tuple[int, int]) -> None:
    assert perturb(scene, "resize", seed=0, **params).shape[:2] == size


def test_blur_reduces_high_frequency_energy(scene: np.ndarray) -> None:
    soft, softer = perturb(scene, "blur", seed=0), perturb(scene, "blur", seed=0, sigma=3.0)
    assert high_frequency_energy(softer) < high_frequency_energy(soft) < 0.5 * high_frequency_energy(scene)


def test_noise_is_seeded(scene: np.ndarray) -> None:
    a, b, c = (perturb(scene, "noise", seed=s) for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    diff = a.astype(np.float64) - scene
    assert abs(diff.std() - PERTURBATIONS["noise"]["std"]) < 1.0


def test_lower_jpeg_quality_gives_smaller_files_and_more_loss(tmp_path: Path, scene: np.ndarray) -> None:
    sizes, losses = [], []
    for quality in (90, 50, 15):
        save_image(tmp_path / f"q{quality}.jpg", scene, quality=quality)
        sizes.append((tmp_path / f"q{quality}.jpg").stat().st_size)
        losses.append(np.abs(perturb(scene, "jpeg", seed=0, quality=quality).astype(int) - scene).mean())
    assert sizes[0] > sizes[1] > sizes[2]
    assert 0 < losses[0] < losses[1] < losses[2]
    assert np.array_equal(load_image(tmp_path / "q50.jpg"), perturb(scene, "jpeg", seed=0, quality=50))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_save_is_deterministic_and_loads_back(tmp_path: Path, scene: np.ndarray, suffix: str) -> None:
    out = perturb(scene, "blur", seed=3)
    save_image(tmp_path / f"a{suffix}", out)
    save_image(tmp_path / f"b{suffix}", perturb(scene, "blur", seed=3))
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    loaded = load_image(tmp_path / f"a{suffix}")
    assert loaded.shape == scene.shape and loaded.dtype == np.uint8
    shapes = (slice(0, 140), slice(0, 320))  # lossy codecs smear the random texture, not the shapes
    tolerance = 0 if suffix == ".png" else 2
    assert np.abs(loaded[shapes].astype(int) - out[shapes]).mean() <= tolerance
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_save_refuses_unknown_suffix(tmp_path: Path, scene: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot save"):
        save_image(tmp_path / "x.gif", scene)


def test_load_flattens_modes_to_bgr(tmp_path: Path) -> None:
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 255  # red, half of it transparent
    rgba[:, :6, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(tmp_path / "gray.png")
    bgr = load_image(tmp_path / "rgba.png")
    assert bgr.shape == (10, 12, 3)
    assert bgr[0, 0].tolist() == [0, 0, 255] and bgr[0, 11].tolist() == [255, 255, 255]
    assert load_image(tmp_path / "gray.png")[0, 0].tolist() == [77, 77, 77]


def test_load_refuses_bad_files(tmp_path: Path, scene: np.ndarray) -> None:
    save_image(tmp_path / "ok.jpg", scene)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really" * 20)
    for name in ("cut.jpg", "junk.png", "missing.png"):
        with pytest.raises(UnsafeInputError):
            load_image(tmp_path / name)


def test_probe_reports_good_bad_and_blank(tmp_path: Path, scene: np.ndarray) -> None:
    save_image(tmp_path / "ok.png", scene)
    probe = probe_image(tmp_path / "ok.png")
    assert probe.decodes and (probe.width, probe.height, probe.channels) == (320, 240, 3) and not probe.blank
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.png").write_bytes(bytes(range(256)) * 4)
    for name in ("cut.png", "garbage.png", "missing.png"):
        bad = probe_image(tmp_path / name)
        assert not bad.decodes and bad.error, bad
    save_image(tmp_path / "red.png", np.full((40, 60, 3), (0, 0, 255), np.uint8))
    save_image(tmp_path / "faint.png", perturb(np.full((40, 60, 3), 128, np.uint8), "noise", seed=0, std=0.5))
    for name in ("red.png", "faint.png"):
        assert probe_image(tmp_path / name).blank, name
    Image.fromarray(np.full((8, 9), 200, np.uint8), "L").save(tmp_path / "gray.png")
    gray = probe_image(tmp_path / "gray.png")
    assert gray.decodes and gray.channels == 1 and gray.blank
