"""`refresh`: the next version of a benchmark keeps its subtasks and counts and shares no source row."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from support import cli, items, run

from tools.pool import DEMO_POOL

REQUIREMENT = "draw entailment conclusions from everyday statements and answer general knowledge questions"


def _rows(out: Path) -> set[tuple[str, str]]:
    return {(i["source"]["dataset"], i["source"]["sample_id"]) for i in items(out)}


def _counts(out: Path) -> Counter[str]:
    return Counter(i["subtask"] for i in items(out))


def test_a_refresh_keeps_the_shape_and_shares_no_source_row_with_any_earlier_version(tmp_path: Path) -> None:
    first, second, third = (tmp_path / name for name in ("v1", "v2", "v3"))
    run(REQUIREMENT, DEMO_POOL, first, size=10)
    state = run(REQUIREMENT, DEMO_POOL, second, size=10, seed=1, refresh_of=str(first))
    assert state["status"] == "done" and _counts(second) == _counts(first) and sum(_counts(first).values()) == 10
    assert not _rows(first) & _rows(second)
    assert [e for e in state["events"] if e.startswith("design")] == []  # the plan is the earlier version's
    assert state["summary"]["lineage"] == [str(first.resolve())]
    assert "## Lineage" in (second / "README.md").read_text() and "Version 2 of this benchmark" in \
        (second / "README.md").read_text()
    run(REQUIREMENT, DEMO_POOL, third, size=10, seed=2, refresh_of=str(second))
    assert _counts(third) == _counts(first) and not _rows(third) & (_rows(first) | _rows(second))
    assert json.loads((third / "summary.json").read_text())["lineage"] == [str(second.resolve()), str(first.resolve())]


def test_a_refresh_of_something_not_built_is_refused_with_the_fix(tmp_path: Path) -> None:
    state = run(REQUIREMENT, DEMO_POOL, tmp_path / "v2", size=4, refresh_of=str(tmp_path / "nothing"))
    assert state["status"] == "refused" and "is not a run directory" in state["message"]
    proc = cli("refresh", str(tmp_path / "nothing"), "--out", str(tmp_path / "v3"))
    assert proc.returncode == 2 and "refresh a benchmark that was built" in proc.stderr
