"""`benchagent report` opens in headless Chromium with no console errors, and shows items, images, audio
players and plots (a screenshot is taken and read back)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import pytest
from support import items

from graph.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make deps installs it)")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120)


@needs_chromium
@pytest.mark.slow
def test_the_report_renders_items_media_and_plots_without_console_errors(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["build", "recognise shapes in images, draw entailment conclusions from everyday statements, and "
                 "follow spoken dialogues", "--size", "6", "--out", str(out), "--no-speech-check"]) == 0
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").resolve().as_uri()
    dom = _chromium("--dump-dom", page)
    assert dom.returncode == 0 and not re.findall(r"CONSOLE.*", dom.stderr), dom.stderr[-2000:]
    built = items(out)
    assert dom.stdout.count('class="item"') == len(built) == 6
    assert dom.stdout.count("<img ") == sum(len(i["image"]) for i in built) > 0
    assert dom.stdout.count("<audio ") == sum(len(i["audio"]) for i in built) > 0
    assert dom.stdout.count('class="plot"') >= 1 and "Worst option-only solver" in dom.stdout
    shot = tmp_path / "report.png"
    taken = _chromium(f"--screenshot={shot}", "--window-size=1200,2400", page)
    assert taken.returncode == 0 and not re.findall(r"CONSOLE.*", taken.stderr)
    pixels = cv2.imread(str(shot))
    assert pixels is not None and pixels.shape[:2] == (2400, 1200) and pixels.std() > 20  # not a blank page


def test_reporting_an_unfinished_run_is_refused(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path)]) == 2
