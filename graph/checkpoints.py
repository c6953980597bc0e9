"""Checkpointers that deserialise only this project's state models (and LangGraph's safe types),
so a tampered checkpoint file cannot make the loader build arbitrary classes."""

from __future__ import annotations

import sqlite3

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

import state.models


def strict_serde() -> JsonPlusSerializer:
    allowed = [(obj.__module__, obj.__name__) for obj in vars(state.models).values()
               if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == state.models.__name__]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


class _SqliteSaver(SqliteSaver):
    """SqliteSaver with versions of 32 digits and no random suffix. This saver stores each checkpoint's
    values whole, not by version, so the suffix (which keeps per-version blobs apart in other savers)
    buys nothing here, and every checkpoint carries two versions per channel: a third of its bytes."""

    def get_next_version(self, current: str | None, channel: None) -> str:
        return f"{int(str(current or 0).split('.')[0]) + 1:032}"


def sqlite_saver(conn: sqlite3.Connection) -> SqliteSaver:
    # WAL, synced at checkpoints of the log rather than every commit: a commit survives a killed process;
    # a power cut may roll back the last steps, which resume replays (the item log is synced per line).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return _SqliteSaver(conn, serde=strict_serde())


def memory_saver() -> InMemorySaver:
    return InMemorySaver(serde=strict_serde())
