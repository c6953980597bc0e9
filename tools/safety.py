"""Guards for untrusted input: paths from dataset rows or models, and media headers."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

MAX_IMAGE_PIXELS = 40_000_000  # 40 MP: above any photo a benchmark item needs, far below a bomb
MAX_MEDIA_BYTES = 50 * 1024 * 1024
MAX_JSON_DEPTH = 64  # nesting a record may have; deeper ones overflow the stack in recursive code


class UnsafeInputError(ValueError):
    """A path or file that must not be read; the message names why."""


def confine(root: Path, rel: str) -> Path:
    """Resolve `rel` under `root`, refusing absolute paths, URLs, `..` escapes and outbound symlinks."""
    if not isinstance(rel, str) or not rel.strip():
        raise UnsafeInputError(f"empty or non-text path {rel!r}")
    if "\x00" in rel:
        raise UnsafeInputError(f"path {rel!r} contains a NUL byte")
    if "://" in rel or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafeInputError(f"path {rel!r} is absolute or a URL; only paths inside {root} are read")
    root = root.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise UnsafeInputError(f"path {rel!r} leaves its root {root}")
    return target


def json_depth(data: Any) -> int:
    """Nesting depth of a JSON value (a scalar inside an object is two levels), without recursion:
    the point is to survive hostile depth."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict | list):
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_media_file(path: Path, max_bytes: int = MAX_MEDIA_BYTES) -> None:
    """Refuse missing, non-regular or oversized files before anything decodes them."""
    if not path.is_file():
        raise UnsafeInputError(f"{path.name} is missing")
    size = os.stat(path).st_size
    if size > max_bytes:
        raise UnsafeInputError(f"{path.name} is {size} bytes, over the {max_bytes}-byte cap")


def check_image_header(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Read width and height from the header only; refuse decompression bombs before decoding."""
    check_media_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise UnsafeInputError(f"{path.name} is a decompression bomb: {exc}") from None
    except OSError as exc:
        raise UnsafeInputError(f"{path.name} is not a readable image: {exc}") from None
    if width * height > max_pixels:
        raise UnsafeInputError(
            f"{path.name} is {width}x{height} = {width * height:,} pixels, over the {max_pixels:,} cap"
        )
    return width, height
