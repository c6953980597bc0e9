"""A build killed with SIGKILL mid-way resumes to exactly the requested number of unique items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import ROOT, items

SIZE = 10


def test_sigkilled_build_resumes_without_losing_or_duplicating_items(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build = subprocess.Popen(
        [sys.executable, "-m", "graph.cli", "build", "follow spoken dialogues", "--size", str(SIZE),
         "--out", str(out), "--no-speech-check"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(items(out)) < 3 and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.05)
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    before = len(items(out))
    assert 3 <= before < SIZE, f"kill landed at {before} items; the test needs a mid-way kill"
    assert not (out / "summary.json").exists()

    resumed = subprocess.run([sys.executable, "-m", "graph.cli", "resume", str(out)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    ids = [i["id"] for i in items(out)]
    assert len(ids) == SIZE and len(set(ids)) == SIZE
    assert json.loads((out / "summary.json").read_text())["accepted"] == SIZE
    # every item's media exists, and no discarded or duplicated render is left behind
    wavs = {p.name for p in (out / "media").glob("*.wav") if not p.name.endswith(".clean.wav")}
    assert wavs == {Path(i["audio"][0]).name for i in items(out)}
