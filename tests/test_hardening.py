"""Hostile and careless use: ids that collide after normalisation, run directories that must not be
written, two writers on one run, damaged runs, out-of-range options, oversized requirements."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    COUNTING_CARD,
    ROOT,
    cli,
    draw_image,
    items,
    mcq_rows,
    run,
    write_dataset,
)

from graph.main import graph as served_graph
from state.models import Item, Source, TransformPlan, Verdict
from tools.run_store import DRAFTS, RunStore

LABELS = ["red", "green", "blue", "yellow"]
NLI = "draw entailment conclusions from everyday statements"
MCQ = "answer multiple choice questions about counting"
COLOURS_CARD = {"name": "pictures", "task": "colour recognition",
                "description": "Synthetic pictures, each labelled with a colour name: red, green, blue or yellow."}


def _colliding_pool(root: Path) -> tuple[Path, dict[str, dict]]:
    """Sample ids that slug alike: spaces vs dashes, slashes, and a 200-character shared prefix."""
    folder = root / "pool" / "pictures"
    ids = [f"pic {n}" for n in range(20)] + [f"pic-{n}" for n in range(20)] + ["a/1", "a 1", "a-1"]
    ids += ["https://example.org/" + "x" * 200 + f"/{n}" for n in range(4)]
    rows = {}
    for k, sample in enumerate(ids):
        label = LABELS[k % len(LABELS)]
        draw_image(folder / "images" / f"im{k}.png", f"{k}{label}")  # every image differs from every other
        rows[sample] = {"id": sample, "image": f"images/im{k}.png", "question": "What is shown?", "label": label}
    write_dataset(root / "pool", "pictures", list(rows.values()), card=COLOURS_CARD)
    return root / "pool", rows


def test_ids_colliding_after_normalisation_build_exactly_and_keep_their_own_rows(tmp_path: Path) -> None:
    pool, rows = _colliding_pool(tmp_path)
    out = tmp_path / "out"
    state = run("recognise the colour label of images", pool, out, size=40)
    built = items(out)
    assert state["status"] == "done" and len(built) == 40
    assert state["summary"]["accepted"] == len(built) == len({i["id"] for i in built})
    assert sum(p["accepted"] for p in state["progress"].values()) == len(built)  # counted = written
    media = [i["image"][0] for i in built]
    assert len(set(media)) == 40
    for item in built:
        row = rows[item["source"]["sample_id"]]
        assert item["answer_text"] == row["label"]
        source_image = pool / "pictures" / row["image"]
        assert (out / item["image"][0]).read_bytes() == source_image.read_bytes(), item["id"]


def _tree(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


def test_out_root_and_non_run_directories_are_refused_and_left_untouched(tmp_path: Path) -> None:
    someone = tmp_path / "someones-folder"
    someone.mkdir()
    (someone / "README.md").write_text("mine")
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    for out, says in ((someone, "not empty and holds no run"), (a_file, "is a file"),
                      (Path("/"), "not empty and holds no run")):
        before = _tree(out) if out.is_dir() and out != Path("/") else None
        root_listing = sorted(os.listdir("/"))
        proc = cli("build", NLI, "--size", "2", "--out", str(out))
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
        assert sorted(os.listdir("/")) == root_listing
        if before is not None:
            assert _tree(out) == before and (out / "README.md").read_text() == "mine"
    assert a_file.read_text() == "mine"


def test_out_inside_the_pool_is_refused(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(6))
    proc = cli("build", "answer multiple choice questions", "--pool", str(pool), "--out", str(pool / "run"))
    assert proc.returncode == 2 and "overlap" in proc.stderr
    assert not (pool / "run").exists()


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Server roots under tmp_path: runs/ for output, pools/ for data."""
    monkeypatch.setenv("BENCHAGENT_RUNS_ROOT", str(tmp_path / "runs"))
    monkeypatch.setenv("BENCHAGENT_POOL_ROOTS", str(tmp_path / "pools"))
    write_dataset(tmp_path / "pools" / "p", "counting-mcq", mcq_rows(6), card=COUNTING_CARD)
    return tmp_path


@pytest.mark.parametrize("where, setting", [
    ({"out_dir": "/etc/benchagent-probe"}, "BENCHAGENT_RUNS_ROOT"),
    ({"out_dir": "runs/../../escape"}, "BENCHAGENT_RUNS_ROOT"),
    ({"pool": "/etc"}, "BENCHAGENT_POOL_ROOTS"),
    ({"pool": "pools/../elsewhere"}, "BENCHAGENT_POOL_ROOTS"),
])
def test_served_graph_refuses_paths_outside_its_roots(roots: Path, monkeypatch: pytest.MonkeyPatch,
                                                      where: dict, setting: str) -> None:
    monkeypatch.chdir(roots)
    (roots / "elsewhere").mkdir()
    before = _tree(roots)
    context = {"size": 2, "out_dir": str(roots / "runs" / "ok"), "pool": str(roots / "pools" / "p"), **where}
    out = served_graph.invoke({"requirement": "answer multiple choice questions"}, context=context)
    assert out["status"] == "refused" and setting in out["message"]
    assert _tree(roots) == before
    assert not Path("/etc/benchagent-probe").exists()


def test_served_graph_builds_inside_its_roots_and_never_over_another_run(roots: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(roots)
    context = {"size": 2, "out_dir": "runs/ok", "pool": "pools/p"}
    out = served_graph.invoke({"requirement": MCQ}, context=context)
    assert out["status"] == "done" and len(items(roots / "runs" / "ok")) == 2
    other = served_graph.invoke({"requirement": NLI}, context=context)
    assert other["status"] == "refused" and "holds another run" in other["message"]
    assert len(items(roots / "runs" / "ok")) == 2


def _build(out: Path, *extra: str, size: int = 30) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "graph.cli", "build", NLI, "--size", str(size), "--out", str(out),
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow
def test_two_builds_racing_for_one_out_exactly_one_proceeds(tmp_path: Path) -> None:
    for trial in range(3):
        out = tmp_path / f"out{trial}"
        racers = [_build(out), _build(out)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in racers]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        loser = next(err for code, err in results if code == 2)
        assert "being written by another process (pid" in loser or "already holds a run" in loser
        built = items(out)
        assert len(built) == 30 == len({i["id"] for i in built})
        assert json.loads((out / "summary.json").read_text())["accepted"] == 30


@pytest.mark.slow
def test_resume_while_a_build_holds_the_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build = _build(out)
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.json").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(build.pid, signal.SIGSTOP)  # frozen while it holds the lock: the race is decided
        proc = cli("resume", str(out))
        assert proc.returncode == 2 and f"pid {build.pid}" in proc.stderr, proc.stderr
        again = cli("build", NLI, "--size", "30", "--out", str(out))
        assert again.returncode == 2 and f"pid {build.pid}" in again.stderr
    finally:
        os.kill(build.pid, signal.SIGCONT)
    assert build.wait(timeout=300) == 0
    built = items(out)
    assert len(built) == 30 == len({i["id"] for i in built})


@pytest.mark.parametrize("args, says", [
    (["--snr", "-100"], "--snr"), (["--snr", "1000"], "--snr"), (["--snr", "nan"], "--snr"),
    (["--snr", "inf"], "--snr"), (["--seed", "99999999999999999999999"], "--seed"),
    (["--seed", "-1"], "--seed"), (["--size", "1000000000"], "--size"),
    (["--llm", "gpt x"], "a model is named like"), (["--llm-judge", "local:model.bin"], "GGUF"),
])
def test_bad_options_are_refused_up_front_and_write_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    out = tmp_path / "out"
    proc = cli("build", NLI, "--out", str(out), *args, env={"OPENAI_API_KEY": "sk-sentinel"})
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert not out.exists()


def test_requests_the_pool_cannot_serve_are_bad_input(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(6), card=COUNTING_CARD)
    beyond = cli("build", MCQ, "--pool", str(pool), "--size", "50",
                 "--out", str(tmp_path / "a"))
    assert beyond.returncode == 2 and "ask for --size" in beyond.stderr
    huge = cli("build", "draw entailment conclusions " + "and more " * 11_000, "--out", str(tmp_path / "b"))
    assert huge.returncode == 2 and "over the limit of 4,000" in huge.stderr and not (tmp_path / "b").exists()


def test_a_long_requirement_stays_out_of_the_checkpoints(tmp_path: Path) -> None:
    requirement = NLI + ". " + "Statements come from everyday life at home and at work. " * 60
    state = run(requirement, ROOT / "tools" / "demo_pool", tmp_path / "out", size=2)
    assert state["status"] == "done" and len(state["requirement"]) <= 203
    assert json.loads((tmp_path / "out" / "spec.json").read_text())["requirement"] == requirement.strip()
    refused = run("x" * 5_000, ROOT / "tools" / "demo_pool", tmp_path / "out2", size=2)
    assert refused["status"] == "refused" and "over the limit" in refused["message"]
    assert not (tmp_path / "out2").exists()


def test_markup_in_the_requirement_is_escaped_in_the_card(tmp_path: Path) -> None:
    run(NLI + " <script>alert(1)</script>", ROOT / "tools" / "demo_pool", tmp_path / "out", size=2)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "<script>" not in card


def test_control_characters_in_a_question_are_rejected(tmp_path: Path) -> None:
    rows = mcq_rows(8)
    for k in (0, 1, 2):
        rows[k]["question"] = rows[k]["question"].replace("after", "af\x00ter")
    write_dataset(tmp_path / "pool", "counting-mcq", rows, card=COUNTING_CARD)
    state = run(MCQ, tmp_path / "pool", tmp_path / "out", size=5)
    built = items(tmp_path / "out")
    assert state["status"] == "done" and len(built) == 5
    assert not any("\x00" in i["question"] for i in built)
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert rejected and {r["sample_id"] for r in rejected} <= {"q0", "q1", "q2"}
    assert all("no_control_characters" in r["failed"] for r in rejected)
    assert not {i["source"]["sample_id"] for i in built} & {"q0", "q1", "q2"}


def test_opening_a_run_store_removes_what_a_kill_left_mid_write(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    item = Item(id="a", subtask="s", question="q q q", answer="x", answer_text="x", modality="text",
                source=Source(dataset="d", sample_id="1"), plan=TransformPlan(recipe="r", dataset="d"))
    kept = store.write_draft(item, Verdict(action="accept"))
    (store.root / DRAFTS / ".a.json.k3j2.tmp").write_text('{"id": "a", "sub')
    (store.media / ".a.wav.x9.tmp").write_bytes(b"RIFF")
    RunStore(tmp_path / "run")
    assert sorted(p.name for p in (store.root / DRAFTS).iterdir()) == ["a.json"]
    assert list(store.media.iterdir()) == [] and (store.root / kept).is_file()


def _finished_run(tmp_path: Path, size: int = 4) -> Path:
    out = tmp_path / "out"
    proc = cli("build", NLI, "--size", str(size), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("damage, says", [
    (lambda run: run.write_text("{not json"), "run.json is damaged (not valid JSON"),
    (lambda run: run.write_text(json.dumps({**json.loads(run.read_text()), "context": {"size": -5}})),
     "invalid context: --size"),
    (lambda run: run.write_text("[]"), "no requirement or context"),
])
def test_resume_refuses_a_damaged_run_json_saying_what_to_do(tmp_path: Path, damage, says: str) -> None:
    out = _finished_run(tmp_path)
    (out / "summary.json").unlink()
    damage(out / "run.json")
    proc = cli("resume", str(out))
    assert proc.returncode == 2 and says in proc.stderr and "4 accepted items stay" in proc.stderr, proc.stderr
    assert "Start a new build" in proc.stderr


def test_resume_sets_a_truncated_checkpoint_aside_and_rebuilds_from_disk(tmp_path: Path) -> None:
    out = _finished_run(tmp_path, size=6)
    lines = (out / "items.jsonl").read_text().splitlines()
    (out / "items.jsonl").write_text("\n".join(lines[:3]) + "\n")  # as if killed after 3 items
    (out / "summary.json").unlink()
    data = (out / "checkpoints.sqlite").read_bytes()
    (out / "checkpoints.sqlite").write_bytes(data[: len(data) // 3])
    proc = cli("resume", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "set aside" in proc.stderr and "keeping the 3 accepted items" in proc.stderr
    built = items(out)
    assert len(built) == 6 == len({i["id"] for i in built}) and [json.loads(x) for x in lines[:3]] == built[:3]
    assert json.loads((out / "summary.json").read_text())["accepted"] == 6
    assert list(out.glob("checkpoints.sqlite.damaged-*"))


def test_resume_rewrites_a_damaged_spec_and_summary_of_a_finished_run(tmp_path: Path) -> None:
    out = _finished_run(tmp_path)
    spec = json.loads((out / "spec.json").read_text())
    (out / "spec.json").write_text('{"requirement": "dra')
    (out / "summary.json").write_text("")
    proc = cli("resume", str(out))
    assert proc.returncode == 0 and "written again" in proc.stderr, proc.stderr
    assert json.loads((out / "spec.json").read_text()) == spec
    assert json.loads((out / "summary.json").read_text())["accepted"] == 4


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small file system of our own, to fill up or make read-only (needs root, as CI has)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def test_a_read_only_out_is_refused_plainly(tmpfs: Path) -> None:
    _remount(tmpfs, "ro")
    proc = cli("build", NLI, "--size", "2", "--out", str(tmpfs / "run"))
    assert proc.returncode == 2 and "read-only file system" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_a_full_disk_mid_build_stops_plainly_and_resume_finishes(tmpfs: Path) -> None:
    out = tmpfs / "run"
    proc = cli("build", "recognise shapes in images", "--size", "16", "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "no space left on the device" in proc.stderr and f"benchagent resume {out}" in proc.stderr
    kept = items(out)
    assert 0 < len(kept) < 16 and all((out / i["image"][0]).is_file() for i in kept)
    _remount(tmpfs, "size=20m")
    again = cli("resume", str(out))
    assert again.returncode == 0, again.stderr
    built = items(out)
    # The items kept come first, unchanged but for the order of their options: letters are balanced
    # again over the whole benchmark when it is finished.
    def unordered(item: dict) -> dict:
        return {**item, "choices": sorted(item["choices"]), "answer": None}

    assert len(built) == 16 == len({i["id"] for i in built})
    assert [unordered(i) for i in built[: len(kept)]] == [unordered(i) for i in kept]
