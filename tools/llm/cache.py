"""The response cache: validated answers keyed by what determines them, so a rerun costs nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def cache_key(model: str, messages: Sequence[tuple[str, Any]], json_schema: dict[str, Any]) -> str:
    """sha256 of the model name, the messages and the JSON schema asked for; nothing secret goes in.

    A message's content is text or a list of content parts (an image as a data URL), both plain JSON."""
    blob = json.dumps({"model": model, "messages": [list(m) for m in messages], "schema": json_schema},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite at `path` (in memory when path is None); one lock because calls come from many threads."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            # WAL without a sync per commit: an answer survives a killed process (the OS has it); one lost
            # to a power cut is only asked again.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, answer: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)", (key, answer))
