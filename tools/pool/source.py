"""What discovery and the layout readers hand to the pool: a dataset's location and its parsed rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.safety import MAX_JSON_DEPTH, json_depth

Layout = Literal["general-bench", "folder"]


class PoolError(ValueError):
    """The pool as a whole cannot be used, or a lookup names something it does not hold."""


class UnreadableDataset(ValueError):
    """One dataset file cannot be parsed; the pool skips that dataset and lists why."""


class TooDeep(UnreadableDataset):
    """A JSON value nests deeper than MAX_JSON_DEPTH levels. About a thousand levels overflow json itself; a
    few hundred already overflow the recursive code rows pass through later (answer cleaning, card
    statistics, pydantic, checkpoint serialisation), so every value a pool file holds is capped well below."""


def check_depth(value: Any) -> Any:
    """`value` itself, or TooDeep when it nests deeper than MAX_JSON_DEPTH (measured without recursion)."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise TooDeep(f"nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def load_json(data: str | bytes) -> Any:
    """json.loads capped at MAX_JSON_DEPTH levels; deeper raises TooDeep, a ValueError like bad JSON."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    return check_depth(value)


def field_at(record: dict[str, Any], path: str) -> Any:
    """A column, or a dotted path into nested objects (card roles may point inside); a flat key
    holding a dot wins."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def json_list(value: Any) -> Any:
    """CSV cells can only hold text; a cell written as a JSON list is a list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return load_json(value)
        except ValueError:  # too deep, too
            return value
    return value


@dataclass(frozen=True)
class Source:
    """One discovered dataset. Paths are POSIX, relative to the pool root."""

    id: str
    layout: Layout
    folder: str
    data_file: str
    card_file: str | None = None


@dataclass
class Meta:
    """Dataset-level descriptions taken from the annotation file or card.json."""

    name: str
    task: str = ""
    task_type: str = ""
    skill: str = ""
    domain: list[str] = field(default_factory=list)
    description: str = ""
    license: str | None = None
    source: str | None = None
    answer_kind: str | None = None  # a card.json may declare its answers to be labels


@dataclass
class Record:
    """One raw row and what it means: role values, media as written, and the raw path behind each role."""

    raw: dict[str, Any]
    sample_id: str
    values: dict[str, Any] = field(default_factory=dict)
    media: dict[str, list[Any]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    options_in_text: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    meta: Meta
    records: list[Record]
