"""What discovery and the layout readers hand to the pool: a dataset's location and its parsed rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Layout = Literal["general-bench", "folder"]


class PoolError(ValueError):
    """The pool as a whole cannot be used, or a lookup names something it does not hold."""


class UnreadableDataset(ValueError):
    """One dataset file cannot be parsed; the pool skips that dataset and lists why."""


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
