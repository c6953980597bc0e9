"""The pool and run store a node works on, opened once per process and shared by all nodes."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from state.context import Context
from tools.pool import DEMO_POOL, Pool
from tools.run_store import RunStore


def pool_path(ctx: Context) -> Path:
    return Path(ctx.pool).expanduser().resolve() if ctx.pool else DEMO_POOL


@lru_cache(maxsize=4)
def _pool(path: Path) -> Pool:
    return Pool(path)


def pool_for(ctx: Context) -> Pool:
    return _pool(pool_path(ctx))


@lru_cache(maxsize=16)
def store_for(run_dir: str) -> RunStore:
    return RunStore(run_dir)
