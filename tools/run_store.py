"""The run directory: accepted items, rejections, spec and summary, written so a crash loses nothing.

items.jsonl is append-only and fsynced per line; an item id already on disk is never written twice,
which makes re-running a node after a kill (checkpoint older than the last write) harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import KeysView
from pathlib import Path
from typing import Any

from state.models import Grounding, Item, Subtask, Verdict
from tools.files import jsonable, write_atomic, write_json

ITEMS = "items.jsonl"
REJECTED = "rejected.jsonl"
TRACE = "trace.jsonl"
SPEC = "spec.json"
SUMMARY = "summary.json"
PLAN = "plan.json"
RUN = "run.json"
CARD = "README.md"
MEDIA = "media"
DRAFTS = "drafts"


def safe_name(text: str, limit: int = 80) -> str:
    """A file-name-safe slug: dataset or model text never becomes a path component as is."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit]
    return slug or "x"


def item_id(subtask: str, dataset: str, sample_id: str) -> str:
    """A readable, file-name-safe id that is injective in (subtask, dataset, sample id).

    The slug alone is not: `pic 16` and `pic-16`, or two long ids sharing a prefix, slug alike; the
    hash of the full triple keeps them apart, in item ids and in the media names made from them."""
    digest = hashlib.sha256("\0".join((subtask, dataset, sample_id)).encode("utf-8")).hexdigest()[:12]
    return f"{safe_name(f'{subtask}.{dataset}.{sample_id}', 60)}-{digest}"


def _append_line(path: Path, record: dict[str, Any], durable: bool = True) -> None:
    # Unbuffered, so that after a failed write (a full disk) no buffer is flushed again on close.
    data = memoryview((json.dumps(record, ensure_ascii=False, default=jsonable) + "\n").encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(fd, data):]
            if durable:
                os.fsync(fd)
        except OSError:  # leave no half line behind
            os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)


def _trim_torn_tail(path: Path) -> None:
    """Cut a last line a kill left half-written, so the file holds whole records only."""
    if not path.is_file():
        return
    with open(path, "rb+") as fh:
        whole = fh.read()
        if whole and not whole.endswith(b"\n"):
            fh.truncate(whole.rfind(b"\n") + 1)


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


def _media_refs(record: Any) -> set[str]:
    """Every string in a record that names a file under media/."""
    refs, stack = set(), [record]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and value.startswith(f"{MEDIA}/"):
            refs.add(value)
    return refs


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.media = self.root / MEDIA
        self.media.mkdir(parents=True, exist_ok=True)
        self._ids: dict[str, tuple[str, str]] | None = None  # accepted id -> source, read from disk once
        self._sources: set[tuple[str, str]] = set()
        self._fingerprints: dict[str, str] = {}  # accepted items' metadata fingerprint -> id
        self._rejected: set[tuple[str, str]] | None = None  # (grounding, sample id) already logged
        self._requirement: str | None = None
        self._plan: tuple[list[Grounding], list[Subtask]] | None = None
        # A run has one writer (the CLI holds its lock), so a temporary file or a torn last line
        # here is what a kill left mid-write.
        for stale in self.root.rglob(".*.tmp"):
            stale.unlink(missing_ok=True)
        for log in (ITEMS, REJECTED, TRACE):
            _trim_torn_tail(self.root / log)

    # items
    def items(self) -> list[dict[str, Any]]:
        return _read_lines(self.root / ITEMS)

    def _accepted(self) -> dict[str, tuple[str, str]]:
        if self._ids is None:
            records = self.items()
            self._ids = {r["id"]: (r["source"]["dataset"], r["source"]["sample_id"]) for r in records}
            self._sources = set(self._ids.values())
            self._fingerprints = {r["metadata"]["fingerprint"]: r["id"] for r in records
                                  if r.get("metadata", {}).get("fingerprint")}
        return self._ids

    def accepted_ids(self) -> KeysView[str]:
        return self._accepted().keys()

    def used_sources(self) -> set[tuple[str, str]]:
        """(dataset, sample id) pairs some accepted item was made from."""
        self._accepted()
        return self._sources

    def accepted_by_grounding(self) -> Counter[str]:
        return Counter(r.get("metadata", {}).get("grounding", "") for r in self.items())

    def add_item(self, item: Item) -> bool:
        """Append an accepted item. True when it is on disk now: written by this call, or by an earlier
        run of the same step (a replay after a kill). False when another source's item holds its id."""
        accepted, source = self._accepted(), (item.source.dataset, item.source.sample_id)
        if item.id in accepted:
            return accepted[item.id] == source
        _append_line(self.root / ITEMS, item.model_dump(mode="json"))
        accepted[item.id] = source
        self._sources.add(source)
        if item.metadata.get("fingerprint"):
            self._fingerprints[item.metadata["fingerprint"]] = item.id
        return True

    def duplicate_of(self, fingerprint: str) -> str | None:
        """The id of an accepted item with this fingerprint (same question, options, answer, media)."""
        self._accepted()
        return self._fingerprints.get(fingerprint)

    def rewrite_items(self, items: list[dict[str, Any]]) -> None:
        """Replace items.jsonl with `items` (the same ids, edited) in one atomic rename: the assembler's
        final pass over finished items, which readers see whole or not at all."""
        data = "".join(json.dumps(r, ensure_ascii=False, default=jsonable) + "\n" for r in items)
        write_atomic(self.root / ITEMS, data.encode("utf-8"))
        self._ids = None  # re-read on next use

    def keep_plan(self, groundings: list[Grounding], subtasks: list[Subtask]) -> None:
        """Write the plans and subtasks executor tasks realise (once, and again only if they change), so
        that each task's payload names its sample and no more: a checkpoint holds every pending task."""
        if self._plan != (groundings, subtasks):
            write_json(self.root / PLAN, {"groundings": [g.model_dump(mode="json") for g in groundings],
                                          "subtasks": [s.model_dump(mode="json") for s in subtasks]})
            self._plan = (list(groundings), list(subtasks))

    def plan(self) -> tuple[dict[str, Grounding], dict[str, Subtask]]:
        """Grounding key -> plan and subtask id -> subtask, as the orchestrator last kept them."""
        if self._plan is None:
            record = self.read(PLAN)
            self._plan = ([Grounding.model_validate(g) for g in record["groundings"]],
                          [Subtask.model_validate(s) for s in record["subtasks"]])
        groundings, subtasks = self._plan
        return {g.key: g for g in groundings}, {s.id: s for s in subtasks}

    def write_draft(self, item: Item, verdict: Verdict) -> str:
        """Park a checked item and its verdict on disk for the verifier node; state carries only the path."""
        rel = f"{DRAFTS}/{safe_name(item.id, 120)}.json"
        # rebuilt if a power cut takes it, so no fsync
        write_json(self.root / rel, {"item": item.model_dump(mode="json"), "verdict": verdict.model_dump(mode="json")},
                   durable=False)
        return rel

    def read_draft(self, rel: str) -> tuple[Item, Verdict]:
        record = self.read(rel)
        return Item.model_validate(record["item"]), Verdict.model_validate(record["verdict"])

    def drop_draft(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def tidy(self, items: list[dict[str, Any]]) -> None:
        """At the end of a run: drop drafts left by a kill and media no accepted item refers to
        (anywhere in its record, provenance included)."""
        for leftover in (self.root / DRAFTS).glob("*") if (self.root / DRAFTS).is_dir() else []:
            leftover.unlink(missing_ok=True)
        kept = {ref for record in items for ref in _media_refs(record)}
        for path in self.media.rglob("*"):
            if path.is_file() and self.relative(path) not in kept:
                path.unlink()

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
        # Timings only: a line lost to a power cut costs nothing, an fsync per node costs every item.
        _append_line(self.root / TRACE, {"node": node, "seconds": round(seconds, 4), "at": time.time()}, durable=False)

    def durations(self) -> dict[str, float]:
        totals: Counter[str] = Counter()
        for rec in _read_lines(self.root / TRACE):
            totals[rec["node"]] += rec["seconds"]
        return {node: round(sec, 3) for node, sec in sorted(totals.items())}

    def write(self, name: str, data: Any) -> None:
        write_json(self.root / name, data)

    def read(self, name: str) -> Any:
        return json.loads((self.root / name).read_text(encoding="utf-8"))

    @property
    def requirement(self) -> str:
        """The full requirement, from run.json: state carries only a preview of it."""
        if self._requirement is None:
            self._requirement = str(self.read(RUN)["requirement"])
        return self._requirement

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()
