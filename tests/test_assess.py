"""The commands after a build, chained through the CLI against scripted models: eval two models (with the
signal removed too), check their ranking, and show it all in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply
from support import items

from graph.cli import main
from tools.evaluation.card import update_card


def _model(answers: dict[str, str], right: bool):
    """Answers each question right (or always A), reading the key from the benchmark."""
    def reply(body: dict) -> Reply:
        text = json.dumps(body["messages"])
        key = next((a for q, a in answers.items() if q in text), "A")
        return Reply(key if right else "A")
    return reply


def test_eval_consistency_and_report_chain(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["build", "draw entailment conclusions from everyday statements and answer general knowledge "
                 "questions", "--size", "8", "--out", str(out)]) == 0
    answers = {json.dumps(i["question"])[1:-1][:60]: i["answer"] for i in items(out)}
    with OpenAIStub(_model(answers, right=False)) as weak, OpenAIStub(_model(answers, right=True)) as strong:
        assert main(["eval", str(out), "--model", f"weak={weak.url}", "--model", f"strong={strong.url}",
                     "--ablate"]) == 0
    results = {json.loads(p.read_text())["model"]: json.loads(p.read_text()) for p in (out / "eval").glob("*.json")}
    assert results["strong"]["micro"]["accuracy"] == 1.0
    assert results["weak"]["micro"]["accuracy"] == pytest.approx(sum(i["answer"] == "A" for i in items(out)) / 8)
    assert main(["consistency", str(out), "--order", "weak,strong"]) == 0
    found = json.loads((out / "eval" / "consistency.json").read_text())
    assert found["overall"]["kendall_tau"] == pytest.approx(1.0) and found["inverted_neighbours"] == []
    assert main(["consistency", str(out), "--order", "strong,weak"]) == 0
    assert json.loads((out / "eval" / "consistency.json").read_text())["inverted_neighbours"] == ["strong > weak"]
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "Accuracy per subtask" in page and "Blind (signal removed) against full" in page
    assert "strong blind" in page and page.count('class="item"') == 8
    card = (out / "README.md").read_text()
    assert card.count("## Signal dependency") == 1 and "| strong | entailment-mcq | 1.00 |" in card
    assert update_card(out) and (out / "README.md").read_text() == card  # rewritten in place, not appended


def test_eval_compares_the_versions_of_a_refreshed_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first, second = tmp_path / "v1", tmp_path / "v2"
    assert main(["build", "answer general knowledge questions", "--size", "4", "--out", str(first)]) == 0
    assert main(["refresh", str(first), "--out", str(second)]) == 0
    with OpenAIStub(lambda body: Reply("A")) as model:
        capsys.readouterr()
        assert main(["eval", str(second), "--model", f"always-a={model.url}", "--versions"]) == 0
    shown = capsys.readouterr().err
    assert "Versions side by side" in shown and "v1" in shown and "v2" in shown
    for version in (first, second):  # each version's own results, each its own accuracy
        result = json.loads((version / "eval" / "always-a.json").read_text())
        assert result["micro"]["accuracy"] == pytest.approx(sum(i["answer"] == "A" for i in items(version)) / 4)
