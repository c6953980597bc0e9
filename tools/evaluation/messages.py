"""An item as a chat message: the question with lettered options, images and audio as content parts.

The blind variant drops the item's target signal (its images, its audio, or for a text item the written
context above the last line of the question) so an ablation can see how much accuracy survives without it.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from tools.llm import Message
from tools.text import LETTERS

FULL, BLIND = "full", "blind"
MC_INSTRUCTION = "Answer with the letter of the correct option only."
OPEN_INSTRUCTION = "Answer with the answer only, in as few words as possible."


class MediaError(ValueError):
    """An item's media cannot be sent: the file is missing or the model cannot take that modality."""


def signal(item: dict[str, Any]) -> str | None:
    """What the blind variant removes from this item: "image", "audio", "context", or None (nothing to remove)."""
    if item.get("image"):
        return "image"
    if item.get("audio"):
        return "audio"
    return "context" if len(_lines(item["question"])) > 1 else None


def prompt(item: dict[str, Any], variant: str = FULL) -> str:
    """The text the model reads: question (its last line alone when blind to context), options, instruction."""
    lines = _lines(item["question"])
    question = lines[-1] if variant == BLIND and signal(item) == "context" else "\n".join(lines)
    choices = item.get("choices")
    if not choices:
        return f"{question}\n\n{OPEN_INSTRUCTION}"
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{question}\n\n{options}\n\n{MC_INSTRUCTION}"


def messages(item: dict[str, Any], run_dir: Path, variant: str = FULL) -> list[Message]:
    """One user message: text alone, or content parts with each image (data URL) and recording (input_audio)."""
    text = prompt(item, variant)
    if variant == BLIND or not (item.get("image") or item.get("audio")):
        return [("user", text)]
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for rel in item.get("image", []):
        mime = mimetypes.guess_type(rel)[0] or "image/png"
        parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{_b64(run_dir, rel)}"}})
    for rel in item.get("audio", []):
        parts.append({"type": "input_audio", "input_audio": {"data": _b64(run_dir, rel), "format": "wav"}})
    return [("user", parts)]


def _lines(question: str) -> list[str]:
    return [line for line in question.strip().splitlines() if line.strip()] or [question]


def _b64(run_dir: Path, rel: str) -> str:
    path = run_dir / rel
    try:
        return base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise MediaError(f"the media file {path} cannot be read ({exc.strerror or exc}); rebuild the "
                         "benchmark or restore its media/ folder") from None
