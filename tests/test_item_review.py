"""`benchagent review` by a scripted person, the acceptance rate with its Wilson interval, and
`benchagent resume --replace-rejected` rebuilding what was rejected from rows not used yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy.stats import binomtest
from support import items, rejections

from graph.cli import main


def test_review_then_replace_the_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    assert main(["build", "answer general knowledge questions", "--size", "6", "--out", str(out)]) == 0
    before = {i["id"]: i for i in items(out)}
    answers = iter(["x", "r", "the distractors are too easy", "a", "q"])  # "x" is not an answer: asked again
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["review", str(out), "--n", "4"]) == 0
    summary = json.loads((out / "item_review" / "summary.json").read_text())
    assert summary["reviewed"] == 2 and summary["accepted"] == 1 and len(summary["rejected"]) == 1
    answers = iter(["a", "a"])  # the review goes on where it stopped: two items left of the four
    assert main(["review", str(out), "--n", "4"]) == 0
    summary = json.loads((out / "item_review" / "summary.json").read_text())
    ci = binomtest(3, 4).proportion_ci(method="wilson")
    assert summary["reviewed"] == 4 and summary["rate"] == 0.75 and summary["ci95"] == [round(ci.low, 4),
                                                                                        round(ci.high, 4)]
    (rejected,) = summary["rejected"]
    assert main(["resume", str(out), "--replace-rejected"]) == 0
    after = {i["id"]: i for i in items(out)}
    assert len(after) == 6 and rejected not in after and set(before) - {rejected} <= set(after)
    (new,) = set(after) - set(before)
    assert after[new]["source"]["sample_id"] not in {i["source"]["sample_id"] for i in before.values()}
    assert any(r["reason"] == "rejected in review: the distractors are too easy" for r in rejections(out))
    assert main(["resume", str(out), "--replace-rejected"]) == 2  # nothing left to replace: said, not redone
