"""Seeded image perturbations that keep the content, and so the answer, recognisable."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image, ImageOps

from tools.audio import write_atomic
from tools.safety import UnsafeInputError, check_image_header

PerturbOp = Literal["resize", "blur", "noise", "jpeg"]
# Default parameters per op: mild enough that small text and fine detail survive.
PERTURBATIONS: dict[str, dict[str, Any]] = {
    "resize": {"scale": 0.75},
    "blur": {"sigma": 1.0},
    "noise": {"std": 6.0},
    "jpeg": {"quality": 50},
}
SAVE_QUALITY = 95
PNG_COMPRESSION = 6
_FORMATS = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg", ".webp": ".webp"}
_QUALITY_FLAG = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".webp": cv2.IMWRITE_WEBP_QUALITY}


def open_image(path: Path) -> Image.Image:
    """Header-check, then fully decode `path`; truncated or garbage files raise UnsafeInputError."""
    check_image_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsafeInputError(f"{path.name} cannot be decoded: {exc}") from None


def load_image(path: Path) -> np.ndarray:
    """Decode `path` to BGR uint8 (EXIF orientation applied, transparency flattened onto white)."""
    return to_bgr(open_image(path))


def to_bgr(im: Image.Image) -> np.ndarray:
    """Any PIL mode as a contiguous BGR uint8 array."""
    if im.mode.startswith("I;16"):
        gray = (np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])


def perturb(image: np.ndarray, op: PerturbOp, seed: int, **params: Any) -> np.ndarray:
    """Apply `op` with PERTURBATIONS[op] overridden by `params`; only "noise" draws on `seed`.

    resize: scale, or width and/or height (one alone keeps the aspect ratio), INTER_AREA.
    blur: gaussian sigma in pixels. noise: gaussian std in 0..255 levels. jpeg: quality 1..100.
    """
    if op not in _OPS:
        raise ValueError(f"unknown perturbation {op!r}; use one of {sorted(_OPS)}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 image array, got {image.dtype} with shape {image.shape}")
    return _OPS[op](image, np.random.default_rng(seed), **{**PERTURBATIONS[op], **params})


def save_image(path: Path, image: np.ndarray, quality: int = SAVE_QUALITY) -> None:
    """Encode by suffix (.png, .jpg/.jpeg, .webp; `quality` applies to the lossy two), write atomically."""
    ext = _FORMATS.get(path.suffix.lower())
    if ext is None:
        raise ValueError(f"cannot save {path.name}: use one of {sorted(_FORMATS)}")
    if ext == ".png":
        flags = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    else:
        flags = [_QUALITY_FLAG[ext], int(quality)]
    ok, encoded = cv2.imencode(ext, image, flags)
    if not ok:
        raise ValueError(f"OpenCV could not encode {image.shape} {image.dtype} as {ext}")
    write_atomic(path, encoded.tobytes())


def _resize(
    image: np.ndarray, rng: np.random.Generator, scale: float, width: int | None = None, height: int | None = None
) -> np.ndarray:
    """Resize to width x height; one of them alone keeps the aspect ratio; neither uses `scale`."""
    h, w = image.shape[:2]
    if width is None and height is None:
        width, height = w * scale, h * scale
    elif width is None:
        width = w * height / h
    elif height is None:
        height = h * width / w
    if width <= 0 or height <= 0:
        raise ValueError(f"resize needs a positive size, got {width} x {height}")
    size = (max(1, round(width)), max(1, round(height)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _blur(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT101)


def _noise(image: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    if std < 0:
        raise ValueError(f"noise std must be non-negative, got {std}")
    noisy = rng.standard_normal(image.shape, dtype=np.float32)
    noisy *= np.float32(std)
    noisy += image
    return np.clip(np.rint(noisy, out=noisy), 0, 255, out=noisy).astype(np.uint8)


def _jpeg(image: np.ndarray, rng: np.random.Generator, quality: int) -> np.ndarray:
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within 1..100, got {quality}")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode {image.shape} {image.dtype}")
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


_OPS = {"resize": _resize, "blur": _blur, "noise": _noise, "jpeg": _jpeg}
