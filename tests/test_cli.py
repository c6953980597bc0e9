"""The command line: bad input gets a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import COUNTING_CARD, ROOT, cli, items, mcq_rows, write_dataset


def test_build_writes_a_benchmark_and_resume_knows_it_is_finished(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = cli("build", "draw entailment conclusions from everyday statements", "--size", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stderr and len(items(out)) == 3
    assert json.loads((out / "summary.json").read_text())["status"] == "done"
    assert (out / "checkpoints.sqlite").exists()
    again = cli("resume", str(out))
    assert again.returncode == 0 and "already finished" in again.stderr
    taken = cli("build", "draw entailment conclusions", "--out", str(out))
    assert taken.returncode == 2 and "already holds a run" in taken.stderr


def test_empty_requirement(tmp_path: Path) -> None:
    proc = cli("build", "   ", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "requirement is empty" in proc.stderr


def test_missing_pool(tmp_path: Path) -> None:
    proc = cli("build", "recognise shapes", "--pool", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "--pool" in proc.stderr


def test_size_zero() -> None:
    proc = cli("build", "recognise shapes", "--size", "0")
    assert proc.returncode == 2 and "size must be at least 1" in proc.stderr


def test_unreadable_dataset_is_skipped_and_named(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(8), card=COUNTING_CARD)
    (pool / "broken").mkdir()
    (pool / "broken" / "data.jsonl").write_text("{not json\n")
    out = tmp_path / "out"
    proc = cli("build", "answer multiple choice questions about counting", "--pool", str(pool), "--size", "2",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr and "broken" in proc.stderr
    assert len(items(out)) == 2


def test_pool_of_only_unreadable_data(tmp_path: Path) -> None:
    (tmp_path / "pool" / "broken").mkdir(parents=True)
    (tmp_path / "pool" / "broken" / "data.jsonl").write_text("{not json\n")
    proc = cli("build", "answer questions", "--pool", str(tmp_path / "pool"))
    assert proc.returncode == 2 and "broken" in proc.stderr


def test_requirement_no_recipe_fits(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = cli("build", "zzzz qqqq", "--size", "2", "--out", str(out))
    # Refused as bad input: the clause is reported as not served, with what this pool could build instead.
    assert proc.returncode == 2
    assert "not served 'zzzz qqqq': no offline recipe tests this" in proc.stderr
    assert "nothing in the requirement can be built from pool demo_pool" in proc.stderr
    assert "dialogue-audio-mcq" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "refused"
    assert summary["coverage"] == [{"clause": "zzzz qqqq", "served": False, "why": "no offline recipe tests this"}]
    assert items(out) == []


def test_llm_without_a_key_or_with_a_missing_model_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.run([sys.executable, "-m", "graph.cli", "build", "recognise shapes", "--llm", "gpt-x"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr
    missing = cli("build", "recognise shapes in images", "--llm", "local:/nowhere/model.gguf",
                  "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not (tmp_path / "o").exists()


def test_an_endpoint_that_stays_down_stops_the_run_resumably(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = cli("build", "draw entailment conclusions", "--llm", "m=http://127.0.0.1:9/v1", "--size", "2",
               "--out", str(out))
    assert proc.returncode == 1 and "gave no answer" in proc.stderr and f"benchagent resume {out}" in proc.stderr
    assert (out / "run.json").is_file() and not (out / "summary.json").exists()


def test_pool_inspect_lists_cards() -> None:
    proc = cli("pool", "inspect")
    assert proc.returncode == 0
    for name in ("shapes", "clocks", "everyday-nli", "daily-dialogues", "general-knowledge-mcq"):
        assert name in proc.stdout
    as_json = json.loads(cli("pool", "inspect", "--json").stdout)
    assert {c["id"] for c in as_json} >= {"shapes", "everyday-nli"}


def test_graph_invoke_from_python(tmp_path: Path) -> None:
    code = ("from graph.main import graph; import json, sys; "
            "out = graph.invoke({'requirement': 'draw entailment conclusions from everyday statements'}, "
            "context={'size': 2, 'out_dir': sys.argv[1]}); print(json.dumps(out['summary']))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "BENCHAGENT_RUNS_ROOT": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["accepted"] == 2
