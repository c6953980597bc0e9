"""The commands after a build, chained through the CLI against scripted models: eval two models (with the
signal removed too), check their ranking, and show it all in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_stub import OpenAIStub, Reply
from support import items

from graph.cli import main


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
