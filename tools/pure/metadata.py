"""Metadata editing: set and remove keys, normalise keys and values, and record transformation history.

Edits run on a copy of an item's metadata dict; set and remove are the patching operations, so paths,
refusals and errors match `patch_record`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from state.models import Provenance
from tools.pure.patching import (
    DottedPath,
    JsonName,
    Key,
    RemoveField,
    SetField,
    apply_patch,
    get_path,
    read_record,
    write_record,
)
from tools.registry import InputPath, ToolError, Workspace, tool


class NormaliseOp(BaseModel):
    op: Literal["normalise"] = "normalise"
    snake_case_keys: bool = Field(True, description="Rename keys at every depth to snake_case.")
    strip_strings: bool = Field(True, description="Strip surrounding whitespace from every text value.")
    sort_lists: list[DottedPath] = Field(default_factory=list,
                                         description="Paths (after key renaming) of lists to sort.")


class RecordOp(BaseModel):
    op: Literal["record"] = "record"
    entry: Provenance = Field(description="The transformation to append to the history.")
    key: Key = Field("history", description="Metadata key of the history list.")


MetadataOp = Annotated[SetField | RemoveField | NormaliseOp | RecordOp, Field(discriminator="op")]


def snake_case(key: str) -> str:
    """'questionText', 'Question Text', 'question-text' -> 'question_text'; 'HTTPCode' -> 'http_code'."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", key))
    return re.sub(r"[\W_]+", "_", words).strip("_").lower()


def normalise(meta: dict[str, Any], snake_case_keys: bool = True, strip_strings: bool = True,
              sort_lists: Sequence[str] = ()) -> dict[str, Any]:
    """A normalised copy; keys that would collide or vanish raise ToolError instead of losing a value."""
    out = _normalised(meta, snake_case_keys, strip_strings)
    for path in sort_lists:
        value = get_path(out, path)
        if not isinstance(value, list):
            raise ToolError(f"{path} is a {type(value).__name__}, not a list to sort")
        out = apply_patch(out, [SetField(path=path, value=sorted(value, key=_sort_key))])[0]
    return out


def record_history(meta: dict[str, Any], entry: Provenance, key: str = "history") -> dict[str, Any]:
    """A copy with `entry` appended to the list at `key` (created when absent)."""
    history = meta.get(key, [])
    if not isinstance(history, list):
        raise ToolError(f"metadata {key!r} is a {type(history).__name__}, not a history list")
    return {**meta, key: [*history, entry.model_dump(mode="json")]}


def edit(meta: dict[str, Any], ops: Sequence[MetadataOp]) -> dict[str, Any]:
    """Apply `ops` in order to a copy of `meta`; the input is never modified."""
    meta = copy.deepcopy(meta)
    for op in ops:
        if isinstance(op, NormaliseOp):
            meta = normalise(meta, op.snake_case_keys, op.strip_strings, op.sort_lists)
        elif isinstance(op, RecordOp):
            meta = record_history(meta, op.entry, op.key)
        else:
            meta = apply_patch(meta, [op])[0]
    return meta


def _normalised(value: Any, snake: bool, strip: bool) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for key, item in value.items():
            new = snake_case(key) if snake else key
            if not new:
                raise ToolError(f"key {key!r} has no letters or digits to keep")
            if new in out:
                raise ToolError(f"keys {origin[new]!r} and {key!r} both normalise to {new!r}")
            out[new], origin[new] = _normalised(item, snake, strip), key
        return out
    if isinstance(value, list):
        return [_normalised(item, snake, strip) for item in value]
    return value.strip() if strip and isinstance(value, str) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    """Total order over JSON values: null, booleans, numbers, texts, then containers by their JSON."""
    if value is None:
        return 0, 0
    if isinstance(value, bool):
        return 1, value
    if isinstance(value, int | float):
        return 2, value
    if isinstance(value, str):
        return 3, value
    return 4, json.dumps(value, sort_keys=True, ensure_ascii=False)


class EditMetadataParams(BaseModel):
    source: InputPath = Field(description="JSON file holding the metadata (an item, or the metadata alone).")
    ops: list[MetadataOp] = Field(min_length=1, max_length=100, description="Edits, applied in order.")
    at: DottedPath | None = Field(None, description="Path of the metadata object in the file, e.g. 'metadata' "
                                                    "for an item; default the whole file.")
    out: JsonName = Field(description="JSON file to write the edited document to.")


@tool("edit_metadata", EditMetadataParams,
      "Edit the metadata of a JSON item: set or remove keys, normalise keys to snake_case, strip texts, sort "
      "declared lists, and append a provenance entry to its history.")
def _edit_tool(p: EditMetadataParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    doc = read_record(ws, p.source)
    meta = get_path(doc, p.at) if p.at else doc
    if not isinstance(meta, dict):
        raise ToolError(f"{p.at} is a {type(meta).__name__}, not a metadata object")
    edited = edit(meta, p.ops)
    doc = apply_patch(doc, [SetField(path=p.at, value=edited)])[0] if p.at else edited
    return [write_record(ws, p.out, doc)], {"keys": list(edited)}
