"""A build killed with SIGKILL mid-way resumes to exactly the requested number of unique items."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


# --- many kills at distinct points ------------------------------------------------------------
#
# One CLI build is SIGKILLed at least 5 times, each at a different kind of point, and resumed with
# `benchagent resume` after every kill. Each build/resume runs in its own session so the kill takes
# its espeak/ffmpeg children too. A kill point is found by polling the run directory; when the
# condition holds, the whole process group is frozen with SIGSTOP and the condition is checked
# again on the frozen disk state, so what a kill is recorded as having hit is what it really hit
# (a write window that closed between the poll and the freeze is let go with SIGCONT and the poll
# goes on). A write that cannot be caught within its bound is killed anyway and recorded as such.

MANY_SIZE = 24
MANY_REQUIREMENT = "follow spoken dialogues with background noise at 10 dB SNR"
MANY_BUDGET_S = 80  # the whole test; each wait below is also bounded by this


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "graph.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def _fresh_tmps(out: Path, stale: set[str]) -> list[str]:
    """Atomic-write temporaries (`.NAME.*.tmp`) in media/ or drafts/ that were not there before."""
    found = []
    for sub in ("media", "drafts"):
        try:
            with os.scandir(out / sub) as it:
                found += [f"{sub}/{e.name}" for e in it if e.name.endswith(".tmp") and f"{sub}/{e.name}" not in stale]
        except FileNotFoundError:
            pass
    return found


def _all_tmps(out: Path) -> set[str]:
    return set(_fresh_tmps(out, set()))


def _line_count(out: Path) -> int:
    try:
        return (out / "items.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _drafts(out: Path) -> list[str]:
    folder = out / "drafts"
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".json") if folder.is_dir() else []


def _draft_stamps(out: Path) -> set[tuple[str, int]]:
    """(name, mtime) of each draft: a draft written by this process is one not in the start set."""
    stamps = set()
    for name in _drafts(out):
        try:
            stamps.add((name, (out / "drafts" / name).stat().st_mtime_ns))
        except FileNotFoundError:
            pass
    return stamps


def _parse_items(out: Path, torn_ok: bool) -> list[dict]:
    """Items on disk. Right after a kill (torn_ok) the last line may be torn: a resumed store cuts it,
    so no other line may ever fail to parse."""
    path = out / "items.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    tail = lines.pop()  # "" when the file ends with a newline
    parsed = [json.loads(line) for line in lines]
    assert not tail or torn_ok, f"items.jsonl ends in a torn line: {tail[:80]!r}"
    return parsed


def _last_nodes(out: Path, n: int = 3) -> list[str]:
    """The graph nodes that finished last (trace.jsonl), for the record of where a kill landed."""
    path = out / "trace.jsonl"
    nodes = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            nodes.append(json.loads(line)["node"])
        except (json.JSONDecodeError, KeyError):
            continue
    return nodes[-n:]


def _referenced(item: dict) -> list[str]:
    refs = [*item.get("image", []), *item.get("audio", [])]
    clean = item.get("metadata", {}).get("clean_audio")
    return refs + ([clean] if clean else [])


def _check_after_kill(out: Path, label: str, previous: int) -> int:
    """Invariants that hold right after any kill; returns the number of items on disk."""
    found = _parse_items(out, torn_ok=True)
    ids = [i["id"] for i in found]
    assert len(ids) == len(set(ids)), f"{label}: duplicated item ids {sorted(i for i in ids if ids.count(i) > 1)}"
    assert previous <= len(ids) < MANY_SIZE, f"{label}: {len(ids)} items on disk, {previous} before this kill"
    root = out.resolve()
    missing = [rel for item in found for rel in _referenced(item)
               if not (root / rel).resolve().is_relative_to(root) or not (root / rel).is_file()]
    assert not missing, f"{label}: items reference media that is not in the run: {missing}"
    assert not (out / "summary.json").exists(), f"{label}: a killed build wrote summary.json"
    for name in _drafts(out):  # drafts are written atomically: any visible one is a whole item
        json.loads((out / "drafts" / name).read_text(encoding="utf-8"))
    return len(ids)


def _wait_stopped(pid: int, bound_s: float = 1.0) -> None:
    """Wait until SIGSTOP has taken hold of pid (state T), so the disk no longer changes under us."""
    until = time.monotonic() + bound_s
    while time.monotonic() < until:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return
        if state in "TtZX":
            return
        time.sleep(0.0002)


class _Killer:
    """Starts build/resume processes and SIGKILLs them when a condition holds on the run directory."""

    def __init__(self, out: Path, logs: Path, deadline: float) -> None:
        self.out, self.logs, self.deadline = out, logs, deadline
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.kills: list[dict] = []
        self.stale_tmps: set[str] = set()
        self.stale_drafts: set[tuple[str, int]] = set()

    def start(self, *args: str) -> None:
        # what earlier kills left behind is not this process's write
        self.stale_tmps, self.stale_drafts = _all_tmps(self.out), _draft_stamps(self.out)
        self.log = self.logs / f"run{len(self.kills)}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(_cli(*args), cwd=ROOT, env=_env(), stdout=log, stderr=log,
                                         start_new_session=True)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log and self.log.exists() else ""

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill_when(self, point: str, cond, bound_s: float, give_up=lambda: False, poll_s: float = 0.0005) -> dict:
        """Poll cond(); on a hit freeze the group, re-check, SIGKILL if still true (else thaw, go on).
        After bound_s, or once give_up() holds, kill anyway and record that the point was missed."""
        until = min(time.monotonic() + bound_s, self.deadline)
        hit = None
        while hit is None:
            if self.proc.poll() is not None:
                raise AssertionError(f"{point}: the process exited ({self.proc.returncode}) before the kill "
                                     f"point; kills so far {self.kills}\n{self._tail()}")
            missed = time.monotonic() >= until or give_up()
            if missed or cond():
                self._signal(signal.SIGSTOP)
                _wait_stopped(self.proc.pid)
                if self.proc.poll() is not None:
                    raise AssertionError(f"{point}: the process exited before the kill\n{self._tail()}")
                hit = cond()
                if not hit and not missed:
                    self._signal(signal.SIGCONT)
                    hit = None
                    continue
                record = {"point": point, "caught": bool(hit), "hit": hit if hit is not True else None,
                          "items": _line_count(self.out),
                          "fresh_tmps": sorted(_fresh_tmps(self.out, self.stale_tmps)),
                          "fresh_drafts": sorted(n for n, _ in _draft_stamps(self.out) - self.stale_drafts),
                          "stale_tmps": sorted(self.stale_tmps),
                          "last_nodes": _last_nodes(self.out)}
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
                self.kills.append(record)
                return record
            time.sleep(poll_s)

    def stop_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.mark.slow
def test_build_killed_many_times_at_distinct_points_resumes_to_a_clean_run(tmp_path: Path) -> None:
    started = time.monotonic()
    out, logs = tmp_path / "out", tmp_path / "logs"
    logs.mkdir()
    killer = _Killer(out, logs, deadline=started + MANY_BUDGET_S)
    count = 0

    def items_at_least(n: int):
        return lambda: _line_count(out) >= n or None

    def fresh_tmp_in(*subs: str):
        return lambda: [t for t in _fresh_tmps(out, killer.stale_tmps) if t.split("/")[0] in subs] or None

    def unverified_draft():
        return sorted(n for n, _ in _draft_stamps(out) - killer.stale_drafts) or None

    def resume() -> None:
        killer.start("resume", str(out))

    try:
        # 1. planning: run.json is written by the first node; no item work has started yet
        killer.start("build", MANY_REQUIREMENT, "--size", str(MANY_SIZE), "--out", str(out), "--no-speech-check")
        rec = killer.kill_when("planning", lambda: (out / "run.json").exists() or None, bound_s=30)
        media = sorted(p.name for p in (out / "media").iterdir()) if (out / "media").is_dir() else []
        assert rec["caught"] and rec["items"] == 0 and not media and not rec["fresh_drafts"], (rec, media)
        count = _check_after_kill(out, "after the planning kill", count)
        assert count == 0

        # 2. mid-items, early
        resume()
        rec = killer.kill_when("mid-items (>= 3)", items_at_least(3), bound_s=30)
        assert rec["caught"], rec
        count = _check_after_kill(out, "after the early mid-items kill", count)

        # 3. during a media write (a fresh `.NAME.*.tmp` in media/ on the frozen disk)
        resume()
        at = count
        rec = killer.kill_when("media write", fresh_tmp_in("media"), bound_s=10,
                               give_up=lambda: _line_count(out) >= at + 4)
        count = _check_after_kill(out, "after the media-write kill", count)

        # 4. mid-items, a few more on
        resume()
        rec = killer.kill_when("mid-items (+3)", items_at_least(count + 3), bound_s=30)
        assert rec["caught"], rec
        count = _check_after_kill(out, "after the second mid-items kill", count)

        # 5. during a draft write; after 2 items or 4 s without one, during any media write
        resume()
        at, since = count, time.monotonic()
        draft_tmp, any_tmp = fresh_tmp_in("drafts"), fresh_tmp_in("drafts", "media")
        rec = killer.kill_when("draft (or media) write",
                               lambda: draft_tmp() or ((_line_count(out) >= at + 2 or time.monotonic() > since + 4)
                                                       and any_tmp()) or None,
                               bound_s=10, give_up=lambda: _line_count(out) >= at + 5)
        count = _check_after_kill(out, "after the draft-write kill", count)

        # 6. with a draft on disk that the verifier has not yet accepted or discarded
        resume()
        at = count
        rec = killer.kill_when("unverified draft", unverified_draft, bound_s=10,
                               give_up=lambda: _line_count(out) >= at + 3)
        count = _check_after_kill(out, "after the unverified-draft kill", count)

        # 7. late, a few items short of the end
        resume()
        rec = killer.kill_when("late", items_at_least(min(max(count + 1, MANY_SIZE - 3), MANY_SIZE - 1)), bound_s=30)
        assert rec["caught"], rec
        count = _check_after_kill(out, "after the late kill", count)

        remaining = killer.deadline - time.monotonic()
        final = subprocess.run(_cli("resume", str(out)), cwd=ROOT, env=_env(), capture_output=True, text=True,
                               timeout=max(remaining, 20))
    finally:
        killer.stop_all()

    kills = killer.kills
    summary_of_kills = "\n".join(map(str, kills))
    print(f"{len(kills)} kills in {time.monotonic() - started:.1f} s:\n{summary_of_kills}")
    assert len(kills) >= 5 and len({k["point"] for k in kills}) == len(kills), summary_of_kills
    # At least one kill must have frozen the run while a write was open or a draft awaited its verdict.
    in_write = [k for k in kills if k["fresh_tmps"] or k["fresh_drafts"]]
    assert in_write, f"no kill landed during a write or with an unverified draft:\n{summary_of_kills}"
    assert final.returncode == 0, f"final resume failed ({final.returncode}):\n{final.stderr[-3000:]}"

    # end state: exactly SIZE unique items, each with its media, and nothing else left behind
    found = _parse_items(out, torn_ok=False)
    ids = [i["id"] for i in found]
    assert len(ids) == MANY_SIZE and len(set(ids)) == MANY_SIZE, f"{len(ids)} lines, {len(set(ids))} unique ids"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and summary["accepted"] == len(found) == MANY_SIZE, summary
    referenced = {Path(rel).as_posix() for item in found for rel in _referenced(item)}
    missing = sorted(rel for rel in referenced if not (out / rel).is_file())
    assert not missing, f"items reference missing media: {missing}"
    on_disk = {f"media/{p.name}" for p in (out / "media").iterdir()}
    orphans = sorted(on_disk - referenced)
    drafts_left = sorted(p.name for p in (out / "drafts").iterdir()) if (out / "drafts").is_dir() else []
    problems = []
    if orphans:
        problems.append(f"media/ holds {len(orphans)} file(s) no item references: {orphans}")
    if drafts_left:
        problems.append(f"drafts/ is not empty (tmp files or leftover drafts): {drafts_left}")
    assert not problems, "\n".join(problems) + f"\nkills:\n{summary_of_kills}"
    assert time.monotonic() - started < MANY_BUDGET_S + 30
