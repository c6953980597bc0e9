"""Whole-build throughput on this machine: items per second and checkpoint bytes per item, by modality.

Runs the CLI's durable path (SQLite checkpoints) on the bundled demo pool:
    .venv/bin/python scripts/bench_build.py
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

from graph.builder import build_graph
from graph.checkpoints import sqlite_saver
from state.context import Context

CASES = [
    ("text (entailment)", "draw entailment conclusions from everyday statements", 40, {}),
    ("image (shapes and clocks)", "recognise shapes and read clocks in images", 40, {}),
    ("image robustness", "robustness of recognising shapes in blurry or compressed images", 24, {}),
    ("audio, no speech check", "follow spoken dialogues under pink noise at 10 dB SNR", 10, {"speech_check": False}),
    ("audio, speech check", "follow spoken dialogues under pink noise at 10 dB SNR", 6, {}),
]


def run(requirement: str, size: int, extra: dict, out: Path) -> tuple[float, int, str]:
    out.mkdir(parents=True)
    with closing(sqlite3.connect(out / "checkpoints.sqlite", check_same_thread=False)) as conn:
        graph = build_graph(checkpointer=sqlite_saver(conn))
        start = time.perf_counter()
        result = graph.invoke({"requirement": requirement}, {"configurable": {"thread_id": "bench"}},
                              context=Context(size=size, out_dir=str(out), **extra))
        seconds = time.perf_counter() - start
    return seconds, (out / "checkpoints.sqlite").stat().st_size, result["status"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, requirement, size, extra) in enumerate(CASES):
            seconds, db_bytes, status = run(requirement, size, extra, Path(tmp) / str(i))
            print(f"{label:28s} {size:3d} items {status:5s} {seconds:7.2f} s  {size / seconds:7.2f} items/s  "
                  f"checkpoints {db_bytes / size / 1024:6.1f} KB/item")


if __name__ == "__main__":
    main()
