"""Find datasets of both layouts anywhere under a pool root and give each a stable id."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

from tools.pool import folder, general_bench
from tools.pool.source import Source, UnreadableDataset
from tools.safety import UnsafeInputError, confine


def slug(path: str) -> str:
    """Lowercase [a-z0-9_-] id from a relative path: 'image/Car Brands' -> 'image-car-brands'."""
    s = re.sub(r"[^a-z0-9_-]+", "-", path.lower().replace("/", "-"))
    return re.sub(r"-{2,}", "-", s).strip("-_") or "dataset"


def discover(root: Path) -> tuple[list[Source], list[str]]:
    """All datasets under `root` (sorted by id) and one problem line per file that could not be judged."""
    found: list[tuple[str, str, str, str | None]] = []  # (layout, folder, data file, card file)
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):  # symlinked folders are not followed
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath).relative_to(root).as_posix()
        data = next((n for n in folder.DATA_FILES if n in filenames), None)
        if data:
            card = _rel(here, folder.CARD_FILE) if folder.CARD_FILE in filenames else None
            found.append(("folder", here, _rel(here, data), card))
            dirnames[:] = []  # the rest of a folder dataset is its media
            continue
        for name in sorted(filenames):
            if not name.endswith(".json") or name == folder.CARD_FILE:
                continue
            rel = _rel(here, name)
            try:
                if general_bench.is_annotation(general_bench.read_json(confine(root, rel))):
                    found.append(("general-bench", general_bench.dataset_folder(rel), rel, None))
            except (UnreadableDataset, UnsafeInputError, OSError) as exc:
                problems.append(f"{rel}: {exc}")
    return _with_ids(root, found), problems


def _rel(here: str, name: str) -> str:
    return name if here == "." else f"{here}/{name}"


def _with_ids(root: Path, found: list[tuple[str, str, str, str | None]]) -> list[Source]:
    per_folder: dict[str, int] = defaultdict(int)
    for _, where, _, _ in found:
        per_folder[where] += 1
    sources: list[Source] = []
    taken: set[str] = set()
    for layout, where, data, card in sorted(found, key=lambda f: f[2]):
        base = slug(root.name if where == "." else where)
        if per_folder[where] > 1:  # several annotation files share one dataset folder
            base = slug(f"{base}-{PurePosixPath(data).stem}")
        ident, n = base, 2
        while ident in taken:
            ident, n = f"{base}-{n}", n + 1
        taken.add(ident)
        sources.append(Source(id=ident, layout=layout, folder=where, data_file=data, card_file=card))  # type: ignore[arg-type]
    return sorted(sources, key=lambda s: s.id)
