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


def sqlite_saver(conn: sqlite3.Connection) -> SqliteSaver:
    return SqliteSaver(conn, serde=strict_serde())


def memory_saver() -> InMemorySaver:
    return InMemorySaver(serde=strict_serde())
