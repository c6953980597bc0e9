"""The usage ledger: one JSON line per real call or cache hit, so spend survives a restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

_FIELDS = ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "cost_usd")


class UsageLedger:
    """Append-only records in `path` (in memory only when path is None), read back on open.

    Reading earlier processes' lines is what lets a resumed run's budget count what was already spent.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            if text and not text.endswith("\n"):
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write("\n")  # a crash tore the last line; start the next one on a line of its own
            for line in text.splitlines():
                try:
                    self._records.append(json.loads(line))
                except ValueError:
                    continue  # the torn line: that call's spend is lost, not the ledger
        self._cost = sum(r.get("cost_usd", 0.0) for r in self._records)

    def add(self, *, role: str, decision: str, model: str, cached: bool, key: str = "", prompt_tokens: int = 0,
            completion_tokens: int = 0, cost_usd: float | None = 0.0) -> None:
        # key: the call's cache key, so a run's record shows which question each line answered
        record = {"at": round(time.time(), 3), "role": role, "decision": decision, "model": model,
                  "cached": cached, "key": key, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "cost_usd": cost_usd or 0.0, "unpriced": cost_usd is None}
        with self._lock:
            self._records.append(record)
            self._cost += record["cost_usd"]
            if self._path is not None:
                # Written through to the OS, which keeps it when the process is killed; no fsync per call
                # (it would cost more than a fast endpoint's answer).
                with open(self._path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")

    @property
    def cost(self) -> float:
        return self._cost

    def summary(self) -> dict[str, Any]:
        """Totals, and the same totals by role, decision and model; "unpriced" marks unknown spend."""
        with self._lock:
            records = list(self._records)
        out: dict[str, Any] = {"total": _bucket(), "by_role": {}, "by_decision": {}, "by_model": {}}
        for r in records:
            for bucket in (out["total"], out["by_role"].setdefault(r["role"], _bucket()),
                           out["by_decision"].setdefault(r["decision"], _bucket()),
                           out["by_model"].setdefault(r["model"], _bucket())):
                bucket["cached_calls" if r["cached"] else "calls"] += 1
                bucket["prompt_tokens"] += r["prompt_tokens"]
                bucket["completion_tokens"] += r["completion_tokens"]
                bucket["cost_usd"] += r["cost_usd"]
                if r["unpriced"]:
                    bucket["unpriced"] = True
        return out


def _bucket() -> dict[str, Any]:
    return dict.fromkeys(_FIELDS, 0) | {"cost_usd": 0.0}
