"""The six-metric judge through the scripted server: scores, 0-100 normalisation, the attribution rule,
several judges with their agreement, and malformed answers recorded, never raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply, by_schema
from support import run

from graph.cli import main
from tools.pool import DEMO_POOL

ITEM = {"fsq": 5, "qac": 4, "cqc": 2, "tsd": 3, "ssc": 4, "errors": [{"metric": "cqc", "issue": "no evidence"}]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("judge") / "run"
    run("draw entailment conclusions from everyday statements and answer general knowledge questions", DEMO_POOL,
        out, size=8)
    return out


def _judge(built: Path, judges: dict[str, OpenAIStub], n: int = 6) -> dict:
    """Run the CLI's judge command; judge names differ across tests, since the run caches their answers."""
    args = ["judge", str(built), "--n", str(n)]
    for name, stub in judges.items():
        args += ["--model", f"{name}={stub.url}"]
    assert main(args) == 0
    return json.loads(next((built / "judge").glob("*.json")).read_text())


def test_the_six_metrics_normalised_with_the_attribution_rule(built: Path, tmp_path: Path) -> None:
    for old in (built / "judge").glob("*") if (built / "judge").is_dir() else []:
        old.unlink()
    with OpenAIStub(by_schema({"BenchmarkJudgement": Reply({"uia": 5, "reason": "fits"}),
                               "ItemJudgement": Reply(ITEM)})) as stub:
        result = _judge(built, {"solo": stub})
    judged = next(iter(result["judges"].values()))
    assert len(result["sample"]) == 6 and len(judged["items"]) == 6
    assert {i["subtask"] for i in judged["items"].values()} == {"entailment-mcq", "text-mcq"}  # stratified
    # (score - 1) / 4 x 100; SSC is capped at the CQC of 2 (broken evidence never raises the challenge)
    assert judged["metrics"] == {"uia": 100.0, "fsq": 100.0, "qac": 75.0, "cqc": 25.0, "tsd": 50.0, "ssc": 25.0}
    assert all(i["notes"] == ["ssc capped at cqc 2"] for i in judged["items"].values())
    assert result["metrics"] == judged["metrics"] and result["agreement"] is None


def test_two_judges_are_combined_with_their_agreement_and_bad_answers_are_recorded(built: Path) -> None:
    for old in (built / "judge").glob("*") if (built / "judge").is_dir() else []:
        old.unlink()

    def flaky(body: dict) -> Reply:  # the second judge answers garbage on entailment items, every time asked
        asked = json.dumps(body["messages"])  # the repair turns too: it stays malformed
        return Reply("not json at all" if "entailment" in asked else {**ITEM, "fsq": 3})

    with OpenAIStub(by_schema({"BenchmarkJudgement": Reply({"uia": 4, "reason": "ok"}),
                               "ItemJudgement": Reply(ITEM)})) as first, \
         OpenAIStub(by_schema({"BenchmarkJudgement": Reply({"uia": 2, "reason": "drifts"}),
                               "ItemJudgement": flaky})) as second:
        result = _judge(built, {"first": first, "second": second})
    a, b = result["judges"].values()
    assert a["metrics"]["uia"] == 75.0 and b["metrics"]["uia"] == 25.0 and result["metrics"]["uia"] == 50.0
    assert len(b["unjudged"]) == 3 and all("gave no usable ItemJudgement" in v for v in b["unjudged"].values())
    common = set(a["items"]) & set(b["items"])
    assert result["agreement"]["fsq"] == {"items": len(common), "exact": 0.0, "mean_spread": 2.0}
    assert result["agreement"]["qac"]["exact"] == 1.0


def test_judging_what_is_not_a_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["judge", str(tmp_path), "--model", "m=http://127.0.0.1:9/v1"]) == 2
