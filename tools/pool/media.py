"""Turn the media references a row holds into pool-relative paths that are safe to open."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Literal

from tools.safety import UnsafeInputError, check_image_header, check_media_file, confine

Status = Literal["present", "missing", "refused"]
# Bare file names usually live in a media subfolder of the dataset ("663.jpg" -> images/663.jpg).
FALLBACK_DIRS = {"image": ("images",), "audio": ("audio", "audios")}


def resolve(root: Path, folder: str, kind: str, ref: Any) -> tuple[str | None, Status, str | None]:
    """(pool-relative path or None, status, problem). Never raises for a bad reference."""
    if not isinstance(ref, str) or not ref.strip():
        return None, "refused", f"{kind} reference {ref!r} is not a file name"
    # posixpath.join keeps an absolute `ref` absolute, so confine() refuses it rather than nesting it
    candidates = [posixpath.join(folder, ref)] + [posixpath.join(folder, d, ref) for d in FALLBACK_DIRS.get(kind, ())]
    for candidate in candidates:
        try:
            target = confine(root, candidate)
            if not target.is_file():
                continue
            if kind == "image":
                check_image_header(target)
            else:
                check_media_file(target)
        except UnsafeInputError as exc:  # the first refusal is final: never look past a hostile path
            return None, "refused", f"{kind} {ref!r} refused: {exc}"
        return target.relative_to(root).as_posix(), "present", None
    return None, "missing", f"{kind} {ref!r} is missing (looked for {', '.join(candidates)})"


def resolve_all(
    root: Path, folder: str, refs: dict[str, list[Any]]
) -> tuple[dict[str, list[str]], list[str], list[tuple[str, Status]]]:
    """Resolve every reference of a row: (kind -> present paths, problems, (kind, status) per reference)."""
    media: dict[str, list[str]] = {}
    problems: list[str] = []
    outcomes: list[tuple[str, Status]] = []
    for kind, items in refs.items():
        for ref in items:
            path, status, problem = resolve(root, folder, kind, ref)
            outcomes.append((kind, status))
            if path:
                media.setdefault(kind, []).append(path)
            if problem:
                problems.append(problem)
    return media, problems, outcomes
