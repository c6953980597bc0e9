"""The run directory: accepted items, rejections, spec and summary, written so a crash loses nothing.

items.jsonl is append-only and fsynced per line; an item id already on disk is never written twice,
which makes re-running a node after a kill (checkpoint older than the last write) harmless.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from state.models import Item
from tools.files import jsonable, write_json

ITEMS = "items.jsonl"
REJECTED = "rejected.jsonl"
TRACE = "trace.jsonl"
SPEC = "spec.json"
SUMMARY = "summary.json"
RUN = "run.json"
MEDIA = "media"
DRAFTS = "drafts"


def safe_name(text: str, limit: int = 80) -> str:
    """A file-name-safe slug: dataset or model text never becomes a path component as is."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit]
    return slug or "x"


def _append_line(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=False, default=jsonable) + "\n"
    with open(path, "ab+") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # a kill tore the last line: start a fresh one
                line = "\n" + line
        fh.write(line.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, dropping a torn last line left by a kill mid-write."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.media = self.root / MEDIA
        self.media.mkdir(parents=True, exist_ok=True)
        self._ids: set[str] | None = None  # accepted ids, read from disk once per store
        self._sources: set[tuple[str, str]] = set()
        self._rejected: set[tuple[str, str]] | None = None  # (grounding, sample id) already logged

    # items
    def items(self) -> list[dict[str, Any]]:
        return _read_lines(self.root / ITEMS)

    def accepted_ids(self) -> set[str]:
        if self._ids is None:
            items = self.items()
            self._ids = {r["id"] for r in items}
            self._sources = {(r["source"]["dataset"], r["source"]["sample_id"]) for r in items}
        return self._ids

    def used_sources(self) -> set[tuple[str, str]]:
        """(dataset, sample id) pairs some accepted item was made from."""
        self.accepted_ids()
        return self._sources

    def accepted_by_grounding(self) -> Counter[str]:
        return Counter(r.get("metadata", {}).get("grounding", "") for r in self.items())

    def add_item(self, item: Item) -> bool:
        """Append an accepted item; False when that id is already on disk."""
        if item.id in self.accepted_ids():
            return False
        _append_line(self.root / ITEMS, item.model_dump(mode="json"))
        self.accepted_ids().add(item.id)
        self._sources.add((item.source.dataset, item.source.sample_id))
        return True

    def write_draft(self, item: Item) -> str:
        """Park an item awaiting verification on disk; state carries only the returned path."""
        rel = f"{DRAFTS}/{safe_name(item.id)}.json"
        write_json(self.root / rel, item.model_dump(mode="json"))
        return rel

    def read_draft(self, rel: str) -> Item:
        return Item.model_validate(self.read(rel))

    def drop_draft(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def add_rejection(self, record: dict[str, Any]) -> None:
        """Log a discarded sample once, even when a resumed run discards it again."""
        if self._rejected is None:
            self._rejected = {(r["grounding"], r["sample_id"]) for r in self.rejections()}
        key = (record["grounding"], record["sample_id"])
        if key not in self._rejected:
            _append_line(self.root / REJECTED, record)
            self._rejected.add(key)

    def rejections(self) -> list[dict[str, Any]]:
        return _read_lines(self.root / REJECTED)

    # run bookkeeping
    def trace(self, node: str, seconds: float) -> None:
        _append_line(self.root / TRACE, {"node": node, "seconds": round(seconds, 4), "at": time.time()})

    def durations(self) -> dict[str, float]:
        totals: Counter[str] = Counter()
        for rec in _read_lines(self.root / TRACE):
            totals[rec["node"]] += rec["seconds"]
        return {node: round(sec, 3) for node, sec in sorted(totals.items())}

    def write(self, name: str, data: Any) -> None:
        write_json(self.root / name, data)

    def read(self, name: str) -> Any:
        return json.loads((self.root / name).read_text(encoding="utf-8"))

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()
