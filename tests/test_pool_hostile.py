"""Hostile pool files: JSON nested far deeper than any dataset needs costs only its own dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import COUNTING_CARD, ROOT, items, mcq_rows, write_dataset

from tools.pool import Pool
from tools.pool.roles import normalise_dialogue, normalise_options
from tools.pool.source import TooDeep, load_json
from tools.safety import MAX_JSON_DEPTH

GOOD = "counting-mcq"
HOSTILE = 10_000  # far past json's own recursion limit


def _nested(levels: int) -> str:
    """JSON text of `levels` nested lists."""
    return "[" * levels + "]" * levels


def _deep_annotation(pool: Path, levels: int = HOSTILE) -> None:
    """A General-Bench annotation file whose one answer nests `levels` deep."""
    path = pool / "nlp" / "deep-annotation" / "json" / "annotation.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"task": "t", "data": [{"input": {"question": "q?"}, "output": {"answer": %s}}]}'
                    % _nested(levels))


def _deep_jsonl(pool: Path, levels: int = HOSTILE) -> None:
    """A folder dataset whose second data.jsonl line nests `levels` deep."""
    folder = write_dataset(pool, "deep-jsonl", mcq_rows(2))
    with (folder / "data.jsonl").open("a") as fh:
        fh.write('{"question": "q?", "answer": %s}\n' % _nested(levels))


def _deep_card(pool: Path, levels: int = HOSTILE) -> None:
    """A folder dataset with good rows and a card.json that nests `levels` deep."""
    folder = write_dataset(pool, "deep-card", mcq_rows(2))
    (folder / "card.json").write_text('{"name": "deep", "domain": %s}' % _nested(levels))


KINDS = {"deep-annotation": _deep_annotation, "deep-jsonl": _deep_jsonl, "deep-card": _deep_card}


def _pool(tmp_path: Path, *bad: str, levels: int = HOSTILE) -> Path:
    root = tmp_path / "pool"
    write_dataset(root, GOOD, mcq_rows(8), card=COUNTING_CARD)
    for name in bad:
        KINDS[name](root, levels)
    return root


def _assert_only_good_left(pool: Pool, *bad: str) -> None:
    assert [c.id for c in pool.cards()] == [GOOD]
    assert len(pool.rows(GOOD)) == 8
    problems = "\n".join(pool.problems)
    assert len(pool.problems) == len(bad), problems
    for name in bad:
        assert name in problems
    assert problems.count(f"nests deeper than {MAX_JSON_DEPTH} levels") == len(bad), problems


@pytest.mark.parametrize("bad", sorted(KINDS))
def test_hostile_depth_skips_only_its_dataset(tmp_path: Path, bad: str) -> None:
    _assert_only_good_left(Pool(_pool(tmp_path, bad), cache_dir=tmp_path / "cache"), bad)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 600, 900])  # json parses these; later recursive code may not
def test_depth_json_accepts_is_still_capped(tmp_path: Path, levels: int) -> None:
    _assert_only_good_left(Pool(_pool(tmp_path, *KINDS, levels=levels), cache_dir=tmp_path / "cache"), *KINDS)


def test_the_cap_is_exact() -> None:
    at_cap = '{"a": %s}' % _nested(MAX_JSON_DEPTH - 1)  # the object is one level, its lists the rest
    assert load_json(at_cap)
    with pytest.raises(TooDeep, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        load_json('{"a": %s}' % _nested(MAX_JSON_DEPTH))


def test_deep_parquet_rows_are_refused(tmp_path: Path) -> None:
    root = _pool(tmp_path)
    value: object = 1
    for _ in range(MAX_JSON_DEPTH + 5):  # pyarrow reads structs this deep, so only the cap stops them
        value = {"a": value}
    (root / "deep-parquet").mkdir()
    pq.write_table(pa.table({"question": ["q?"], "answer": [value]}), root / "deep-parquet" / "data.parquet")
    _assert_only_good_left(Pool(root, cache_dir=tmp_path / "cache"), "deep-parquet")


def test_deep_json_inside_text_stays_text(tmp_path: Path) -> None:
    """Options, dialogues and CSV cells written as JSON text are parsed; too deep, they are just text."""
    assert normalise_options(_nested(HOSTILE)) is None
    # one unattributed turn: the text itself, speaker unnamed (no speaker is guessed)
    assert normalise_dialogue(_nested(HOSTILE)) == [{"speaker": None, "text": _nested(HOSTILE)}]
    root = _pool(tmp_path)
    (root / "deep-cell").mkdir()
    (root / "deep-cell" / "data.csv").write_text(f'question,answer\nq?,"{_nested(HOSTILE)}"\n')
    write_dataset(root, "deep-text", [{"question": "q?", "options": _nested(HOSTILE), "answer": "A"}])
    pool = Pool(root, cache_dir=tmp_path / "cache")
    assert [c.id for c in pool.cards()] == [GOOD, "deep-cell", "deep-text"] and not pool.problems
    assert pool.rows("deep-cell")[0].values["answer"] == _nested(HOSTILE)
    assert "options" not in pool.rows("deep-text")[0].values


@pytest.mark.parametrize("cached", [b"{not json", b"\xff\xfe", _nested(HOSTILE).encode(),
                                    ('{"id": %s}' % _nested(HOSTILE)).encode()])
def test_corrupt_or_deep_cached_card_is_a_miss(tmp_path: Path, cached: bytes) -> None:
    root, cache = _pool(tmp_path), tmp_path / "cache"
    first = Pool(root, cache_dir=cache).cards()
    files = list(cache.glob("*.json"))
    assert files
    for path in files:
        path.write_bytes(cached)
    assert [c.model_dump() for c in Pool(root, cache_dir=cache).cards()] == [c.model_dump() for c in first]
    assert all(json.loads(path.read_text())["id"] == GOOD for path in files)  # rebuilt and rewritten


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "BENCHAGENT_CACHE": str(tmp_path / "cache")}  # a private card cache
    proc = subprocess.run([sys.executable, "-m", "graph.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "RecursionError" not in proc.stdout + proc.stderr
    return proc


def test_cli_pool_inspect_skips_deep_datasets(tmp_path: Path) -> None:
    proc = cli(tmp_path, "pool", "inspect", str(_pool(tmp_path, *KINDS)))
    assert proc.returncode == 0, proc.stderr
    assert GOOD in proc.stdout and "skipped" in proc.stderr
    for name in KINDS:
        assert name in proc.stderr


def test_cli_build_skips_deep_datasets(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = cli(tmp_path, "build", "answer multiple choice questions about counting", "--pool",
               str(_pool(tmp_path, *KINDS)), "--size", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr
    for name in KINDS:
        assert name in proc.stderr
    assert len(items(out)) == 2
