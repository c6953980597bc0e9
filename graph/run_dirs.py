"""Where a run may live: the rule for run directories, the roots a server run is confined to, and the
lock that gives a run directory one writer at a time."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.pool import DEMO_POOL
from tools.run_store import RUN

RUNS_ROOT_ENV = "BENCHAGENT_RUNS_ROOT"
POOL_ROOTS_ENV = "BENCHAGENT_POOL_ROOTS"
LOCK = ".lock"
CHECKPOINTS = "checkpoints.sqlite"
# What the driver opens before the graph writes run.json: a folder holding only these is still new.
_BOOKKEEPING = {LOCK, CHECKPOINTS, f"{CHECKPOINTS}-journal", f"{CHECKPOINTS}-wal", f"{CHECKPOINTS}-shm"}


class RunDirError(ValueError):
    """A run directory or pool that must not be used; the message names why and what to change."""


def check_run_dir(run_dir: Path, pool: Path, this_run: dict[str, Any] | None = None) -> None:
    """A run directory is new, empty, or holds this very run (`this_run`: its requirement and context).

    Anything else would mix two benchmarks or write over files that are not ours: an existing file,
    a non-empty folder that is not a run, another run, or a folder inside the pool (read as data)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is a file, not a directory; pass another --out")
    if run_dir.is_dir() and any(p.name not in _BOOKKEEPING for p in run_dir.iterdir()):
        run_file = run_dir / RUN
        if not run_file.is_file():
            raise RunDirError(f"{run_dir} is not empty and holds no run; pass a new or empty directory as --out")
        if this_run is None:
            raise RunDirError(f"{run_dir} already holds a run; continue it with: benchagent resume {run_dir}, "
                              "or pass another --out")
        try:
            recorded = json.loads(run_file.read_bytes())
        except (ValueError, RecursionError):
            recorded = None
        if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in this_run.items()):
            raise RunDirError(f"{run_dir} holds another run (a different requirement or settings); pass "
                              "another out_dir")
    if run_dir.is_relative_to(pool) or pool.is_relative_to(run_dir):
        raise RunDirError(f"run directory {run_dir} and pool {pool} overlap; pass an --out outside the pool")


def _root(value: str) -> Path:
    return Path(value).expanduser().resolve()


@dataclass(frozen=True)
class ServerRoots:
    """Roots a run started through the server (Studio, HTTP, `graph.invoke` on graph.main) is held to:
    it writes only under `runs` and reads pools only under `pools`. Callers of the CLI are not."""

    runs: Path
    pools: tuple[Path, ...]

    @classmethod
    def from_env(cls) -> ServerRoots:
        runs = _root(os.environ.get(RUNS_ROOT_ENV) or "runs")
        listed = [p for p in os.environ.get(POOL_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
        pools = tuple(_root(p) for p in listed) or (DEMO_POOL.resolve(), _root("pools"))
        return cls(runs=runs, pools=pools)

    def check(self, run_dir: Path, pool: Path) -> None:
        if not run_dir.is_relative_to(self.runs):
            raise RunDirError(f"out_dir {run_dir} is outside the runs root {self.runs}; pass an out_dir under it, "
                              f"or set {RUNS_ROOT_ENV} on the server")
        if not any(pool.is_relative_to(root) for root in self.pools):
            roots = ", ".join(str(r) for r in self.pools)
            raise RunDirError(f"pool {pool} is outside the pool roots ({roots}); pass a pool under one of them, "
                              f"or set {POOL_ROOTS_ENV} on the server (paths separated by '{os.pathsep}')")


class RunLocked(RuntimeError):
    """Another process is writing this run directory."""


@contextmanager
def hold_run(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for as long as the block runs.

    An OS lock (flock) rather than a marker file: the kernel drops it when the holder dies, even by
    SIGKILL, so a killed build never leaves a run that cannot be resumed."""
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RunLocked(f"{run_dir} is being written by another process (pid {holder}); wait for it to "
                            "finish or stop it, then run benchagent resume " + str(run_dir)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
