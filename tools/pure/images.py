"""Image operations with OpenCV: header-checked loading, atomic saving, seeded perturbations that keep
the content recognisable, geometry (resize, aspect, crop, pad, rotate), occlusion, region marking and
grids, each a pure function on BGR uint8 arrays (tools.pure.image_tools registers them as tools).

Colours are "#RRGGBB" strings everywhere; boxes are `Box` (left, top, width, height) in pixels.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field

from tools.files import write_atomic
from tools.safety import MAX_IMAGE_PIXELS, UnsafeInputError, check_image_header

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
IMAGE_SUFFIXES = tuple(_FORMATS)
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


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: falls as an image is blurred."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def blockiness(image: np.ndarray) -> float:
    """Mean step across 8-pixel block edges over the mean step inside blocks: about 1 for a clean
    image, well above 1 once JPEG at a low quality has cut it into visible 8x8 blocks."""
    grey = (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image).astype(np.float64)
    steps = np.abs(np.diff(grey, axis=1))
    cols = np.arange(steps.shape[1])
    edge, inner = steps[:, cols % 8 == 7], steps[:, cols % 8 != 7]
    return float(edge.mean() / max(inner.mean(), 1e-6)) if edge.size and inner.size else 1.0


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
    check_size(*size)
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


# --- geometry, occlusion, marking and grids: pure functions on BGR uint8 arrays -------------------

Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="Colour as #RRGGBB.")]
LABEL_HEIGHT = 28  # strip under each grid cell that holds its label
# Counter-clockwise quarter turns as OpenCV rotations: the same pixels as np.rot90, several times faster.
_QUARTER_TURNS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


class Box(BaseModel):
    """A pixel rectangle: left and top edge, width and height."""

    model_config = ConfigDict(frozen=True)

    x: int = Field(ge=0, description="Left edge in pixels.")
    y: int = Field(ge=0, description="Top edge in pixels.")
    width: int = Field(ge=1, description="Width in pixels.")
    height: int = Field(ge=1, description="Height in pixels.")

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)

    def check_within(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.x + self.width > w or self.y + self.height > h:
            raise ValueError(f"box at ({self.x}, {self.y}) of {self.width}x{self.height} leaves the {w}x{h} image")


def bgr(color: str) -> tuple[int, int, int]:
    """"#RRGGBB" as the BGR triple OpenCV arrays use."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return blue, green, red


def check_size(width: int, height: int) -> None:
    """Refuse to build a canvas the loader would refuse to read back (a parameter-made memory bomb)."""
    if width < 1 or height < 1:
        raise ValueError(f"an image needs a positive size, got {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(f"{width}x{height} is over the {MAX_IMAGE_PIXELS:,}-pixel cap")


def solid(width: int, height: int, color: str) -> np.ndarray:
    """A BGR canvas of one colour, filled row by row (broadcasting a triple per pixel is far slower)."""
    check_size(width, height)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[0] = bgr(color)
    canvas[1:] = canvas[0]
    return canvas


def center_on(image: np.ndarray, width: int, height: int, color: str = "#000000") -> np.ndarray:
    """`image` centred on a width x height canvas of `color`; overflow is cropped evenly."""
    check_size(width, height)
    h, w = image.shape[:2]
    dx, dy = (width - w) // 2, (height - h) // 2
    inner = image[max(0, -dy) : max(0, -dy) + min(h, height), max(0, -dx) : max(0, -dx) + min(w, width)]
    top, left = max(0, dy), max(0, dx)
    return cv2.copyMakeBorder(inner, top, height - top - inner.shape[0], left, width - left - inner.shape[1],
                              cv2.BORDER_CONSTANT, value=bgr(color))


def fit_aspect(image: np.ndarray, ratio: str, mode: Literal["crop", "pad"], color: str = "#000000") -> np.ndarray:
    """Centre-crop (largest) or pad (smallest) to exactly `ratio` ("16:9"): width/height equals it, no rounding."""
    a, b = (int(part) for part in ratio.split(":"))
    if a <= 0 or b <= 0:
        raise ValueError(f"aspect ratio {ratio!r} needs two positive numbers")
    a, b = a // math.gcd(a, b), b // math.gcd(a, b)
    h, w = image.shape[:2]
    k = min(w // a, h // b) if mode == "crop" else max(-(-w // a), -(-h // b))
    if k == 0:
        raise ValueError(f"a {w}x{h} image is too small to crop to {a}:{b}; pad instead")
    return center_on(image, k * a, k * b, color)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    box.check_within(image)
    return image[box.slices()].copy()


def pad(image: np.ndarray, width: int, height: int, color: str = "#000000") -> np.ndarray:
    """Centre `image` on a larger canvas; a smaller target is refused rather than silently cropped."""
    h, w = image.shape[:2]
    if width < w or height < h:
        raise ValueError(f"cannot pad a {w}x{h} image to the smaller {width}x{height}; crop it first")
    return center_on(image, width, height, color)


def occlude(image: np.ndarray, boxes: list[Box], color: str = "#000000") -> np.ndarray:
    out = image.copy()
    for box in boxes:
        box.check_within(image)
        out[box.slices()] = bgr(color)
    return out


def random_boxes(width: int, height: int, count: int, side: float, rng: np.random.Generator) -> list[Box]:
    """`count` squares with sides `side` times the shorter image side, placed uniformly inside the image."""
    px = max(1, round(min(width, height) * side))
    xs, ys = rng.integers(0, width - px + 1, count), rng.integers(0, height - px + 1, count)
    return [Box(x=int(x), y=int(y), width=px, height=px) for x, y in zip(xs, ys, strict=True)]


def rotate(image: np.ndarray, degrees: float, expand: bool = True, color: str = "#000000") -> np.ndarray:
    """Rotate counter-clockwise; `expand` grows the canvas to hold every pixel, else it keeps its size.

    Multiples of 90 degrees are exact pixel permutations (no interpolation).
    """
    h, w = image.shape[:2]
    if degrees % 90 == 0:
        turns = int(degrees // 90) % 4
        turned = cv2.rotate(image, _QUARTER_TURNS[turns]) if turns else image.copy()
        return turned if expand else center_on(turned, w, h, color)
    cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    # The epsilon keeps float error from adding a pixel column to an exact fit.
    size = (math.ceil(w * cos + h * sin - 1e-6), math.ceil(w * sin + h * cos - 1e-6)) if expand else (w, h)
    check_size(*size)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    matrix[:, 2] += ((size[0] - w) / 2, (size[1] - h) / 2)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=bgr(color))


def mark(
    image: np.ndarray, box: Box, style: Literal["outline", "mask"] = "outline", color: str = "#FF0000",
    thickness: int = 3, opacity: float = 0.7,
) -> np.ndarray:
    """Highlight `box`: a frame `thickness` wide just outside it, or everything else tinted towards `color`.

    The pixels inside the box are never touched, so the marked content stays answerable.
    """
    box.check_within(image)
    h, w = image.shape[:2]
    if style == "outline":
        out = image.copy()
        out[max(0, box.y - thickness) : min(h, box.y + box.height + thickness),
            max(0, box.x - thickness) : min(w, box.x + box.width + thickness)] = bgr(color)
    else:
        out = cv2.addWeighted(image, 1 - opacity, solid(w, h, color), opacity, 0)
    out[box.slices()] = image[box.slices()]
    return out


def scale_to_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest resize of `image` inside width x height that keeps its aspect; a second call is a no-op."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    size = (min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale))))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def fit(image: np.ndarray, width: int, height: int, color: str = "#FFFFFF") -> tuple[np.ndarray, Box]:
    """`image` scaled to fit width x height and centred on it; returns the cell and where the image sits."""
    image = scale_to_fit(image, width, height)
    h, w = image.shape[:2]
    return center_on(image, width, height, color), Box(x=(width - w) // 2, y=(height - h) // 2, width=w, height=h)


def grid(
    images: list[np.ndarray], rows: int, cols: int, cell_width: int, cell_height: int, gap: int = 4,
    background: str = "#FFFFFF", labels: list[str] | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Images row-major in rows x cols cells of one size, each fitted and centred, labels in a strip below.

    Returns the canvas and, per image, its cell box and the box its pixels occupy inside the canvas.
    """
    if not images or len(images) > rows * cols:
        raise ValueError(f"{len(images)} images do not fit a {rows}x{cols} grid")
    if labels and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    strip = LABEL_HEIGHT if labels else 0
    width, height = cols * cell_width + (cols + 1) * gap, rows * (cell_height + strip) + (rows + 1) * gap
    canvas = solid(width, height, background)
    cells = []
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        cell = Box(x=gap + col * (cell_width + gap), y=gap + row * (cell_height + strip + gap),
                   width=cell_width, height=cell_height)
        canvas[cell.slices()], inner = fit(image, cell_width, cell_height, background)
        entry = {"index": i, "row": row, "col": col, "box": cell.model_dump(),
                 "image_box": inner.model_copy(update={"x": cell.x + inner.x, "y": cell.y + inner.y}).model_dump()}
        if labels:
            _label(canvas, labels[i], Box(x=cell.x, y=cell.y + cell_height, width=cell_width, height=strip))
            entry["label"] = labels[i]
        cells.append(entry)
    return canvas, cells


def _label(canvas: np.ndarray, text: str, box: Box) -> None:
    """Centre `text` in `box`, shrunk to fit, dark or light against the background there."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(1.0, (box.height - 6) / (th + base), (box.width - 4) / max(tw, 1))
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    ink = (0, 0, 0) if canvas[box.slices()].mean() > 127 else (255, 255, 255)
    origin = (box.x + (box.width - tw) // 2, box.y + (box.height + th) // 2)
    cv2.putText(canvas, text, origin, font, scale, ink, 1, cv2.LINE_AA)
