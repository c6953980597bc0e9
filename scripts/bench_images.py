"""Throughput of the executor's image, decomposition and patching tools on this machine.

Pure operations on a 1024x768 BGR image (no file I/O), one registered tool call end to end (decode,
operate, PNG encode, atomic write), tiles and grids, and record patch operations with their inverses.

Run: .venv/bin/python scripts/bench_images.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.pure.decompose import tile  # noqa: E402
from tools.pure.images import (  # noqa: E402
    Box,
    crop,
    fit_aspect,
    grid,
    mark,
    occlude,
    pad,
    perturb,
    random_boxes,
    rotate,
    save_image,
)
from tools.pure.patching import apply_patch  # noqa: E402
from tools.registry import Workspace, call  # noqa: E402

RECORD = {"id": "q1", "question": "What colour is the sky on a clear day?", "options": ["blue", "green", "red"],
          "answer": "A", "meta": {"source": "pool/x", "score": 0.8125, "tags": ["sky", "colour"]}}
PATCH = [
    {"op": "rename", "path": "question", "to": "prompt"},
    {"op": "move", "path": "answer", "to": "gold.letter"},
    {"op": "fill", "path": "text", "template": "{prompt} Options: {options}"},
    {"op": "set", "path": "meta.split", "value": "test"},
    {"op": "replace_segment", "path": "text", "find": r"\bsky\b", "replace": "sea", "regex": True},
    {"op": "remove", "path": "meta.score"},
]


def rate(fn: Callable[[], object], seconds: float = 0.5) -> float:
    """Calls per second: best of 3 runs of as many calls as fit in `seconds` (after one warm-up call)."""
    fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return 1 / best


def bench_ops(image: np.ndarray) -> None:
    box = Box(x=300, y=200, width=320, height=240)
    boxes = random_boxes(1024, 768, 8, 0.1, np.random.default_rng(0))
    ops: dict[str, Callable[[], object]] = {
        "resize 0.5": lambda: perturb(image, "resize", 0, scale=0.5),
        "resize 16:9 crop": lambda: fit_aspect(image, "16:9", "crop"),
        "crop box": lambda: crop(image, box),
        "pad 1200x900": lambda: pad(image, 1200, 900),
        "blur sigma 2": lambda: perturb(image, "blur", 0, sigma=2.0),
        "noise std 8": lambda: perturb(image, "noise", 1, std=8.0),
        "jpeg q 50": lambda: perturb(image, "jpeg", 0, quality=50),
        "occlude 8 patches": lambda: occlude(image, boxes),
        "rotate 90": lambda: rotate(image, 90),
        "rotate 30 expand": lambda: rotate(image, 30),
        "mark outline": lambda: mark(image, box),
        "mark mask": lambda: mark(image, box, style="mask"),
    }
    for name, fn in ops.items():
        print(f"image {name:<18} 1024x768: {rate(fn):8.1f} images/s")


def bench_tool_call(image: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(run_dir=Path(tmp) / "run", read_roots=(Path(tmp),))
        save_image(Path(tmp) / "in.png", image)
        per_s = rate(lambda: call("blur_image", {"image": "in.png", "out": "o.png", "sigma": 2.0}, ws))
        print(f"tool blur_image, PNG in and out, 1024x768: {per_s:8.1f} calls/s")


def bench_tiles_grids(image: np.ndarray) -> None:
    print(f"tile 1024x768 into 4x4 (views):            {rate(lambda: tile(image, 4, 4)):8.1f} tilings/s")
    cells = [image[:384, :512]] * 4
    print(f"grid 2x2 of 512x384, no resize:            {rate(lambda: grid(cells, 2, 2, 512, 384)):8.1f} grids/s")
    labelled = [image] * 9
    per_s = rate(lambda: grid(labelled, 3, 3, 256, 192, labels=list("ABCDEFGHI")))
    print(f"grid 3x3 of 1024x768 fitted to 256x192, labelled: {per_s:8.1f} grids/s")


def bench_patches() -> None:
    per_s = rate(lambda: apply_patch(RECORD, PATCH))
    print(f"patch {len(PATCH)} ops with inverses on a small record: {per_s * len(PATCH):8.0f} ops/s "
          f"({per_s:.0f} patches/s)")
    big = {**RECORD, "context": "word " * 20000, "rows": [dict(RECORD) for _ in range(200)]}
    per_s = rate(lambda: apply_patch(big, PATCH))
    print(f"patch {len(PATCH)} ops on a 120 kB record (deep copy):  {per_s * len(PATCH):8.0f} ops/s")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), (0, 0), 2)
    bench_ops(picture)
    bench_tool_call(picture)
    bench_tiles_grids(picture)
    bench_patches()
