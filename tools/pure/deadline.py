"""A wall-clock bound for blocking network calls whose own timeouts miss part of the wait."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def with_deadline(fn: Callable[[], T], timeout_s: float, name: str = "deadline") -> T:
    """Run `fn` in a daemon thread; raise TimeoutError after `timeout_s`, else return or re-raise.

    DNS lookups ignore socket timeouts, so only a watchdog bounds them; an abandoned call finishes
    in the background and is never waited for.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name=name)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
