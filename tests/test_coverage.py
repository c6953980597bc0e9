"""Coverage, not filler: every clause is served by a subtask or reported with why; a requirement the
pool cannot serve exits 2 with that report; settings the requirement fixes reach every item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import cli, items, mcq_rows, run, write_dataset

from agents.design import OfflineDesigner
from agents.requirement_terms import alignment_query, audio_noise, clauses, image_degradations, requested_count


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("requirement", ["Evaluate whether a model can debug Python code",
                                         "Test map reading on city maps",
                                         "Evaluate recognition of animal species in photos"])
def test_requirements_the_pool_cannot_serve_exit_2_with_a_coverage_report(gb_mini: Path, tmp_path: Path,
                                                                          requirement: str) -> None:
    out = tmp_path / "out"
    proc = cli("build", requirement, "--pool", str(gb_mini), "--size", "6", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    summary = _summary(out)
    assert summary["status"] == "refused" and summary["accepted"] == 0 and items(out) == []
    unserved = [c for c in summary["coverage"] if not c["served"]]
    assert unserved and not [c for c in summary["coverage"] if c["served"]]
    assert all(c["why"] for c in unserved)
    # The report comes first in the output, then what the pool can build and the LLM hint.
    assert proc.stderr.index("not served") < proc.stderr.index("refused:")
    assert "can build: image-label-mcq on image-car_brands_recognition" in proc.stderr and "--llm" in proc.stderr
    assert "not served" in (out / "README.md").read_text()


@pytest.mark.slow
def test_a_mixed_requirement_builds_only_the_served_part_and_reports_the_rest(gb_mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = cli("build", "Recognise car brands in images and debug Python code", "--pool", str(gb_mini),
               "--size", "6", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    built = items(out)
    assert len(built) == 6 and {i["source"]["dataset"] for i in built} == {"image-car_brands_recognition"}
    coverage = {c["clause"]: c for c in _summary(out)["coverage"]}
    assert coverage["Recognise car brands in images"]["served"]
    # offline nothing tests it; an LLM writer could inject one bug into a function
    assert coverage["debug Python code"] == {
        "clause": "debug Python code", "served": False,
        "why": "it asks for faulty step localisation, which needs an LLM writer (recipe faulty-step-localisation); "
               "run with --llm MODEL"}
    spec = json.loads((out / "spec.json").read_text())
    assert [c["clause"] for c in spec["coverage"] if not c["served"]] == ["debug Python code"]


def test_off_topic_data_never_fills_a_quota(tmp_path: Path) -> None:
    """A pool whose only dataset fits the recipe but is about something else: nothing is built."""
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(12), card={"name": "counting-mcq", "task": "Counting numbers",
                                                            "description": "Which number comes next in counting."})
    state = run("Evaluate knowledge of medieval European history with multiple choice questions", pool,
                tmp_path / "out", size=4)
    assert state["status"] == "refused" and items(tmp_path / "out") == []
    why = state["summary"]["coverage"][0]["why"]
    assert "no dataset in the pool is about" in why and "no card matches it at all" in why


def test_clauses_keep_their_modifiers_and_alignment_drops_rendering_words() -> None:
    assert clauses("car brands on blurred and JPEG-compressed images, and read clocks") == [
        "car brands on blurred and JPEG-compressed images", "read clocks"]
    assert alignment_query("daily conversations under babble noise at 5 dB") == "daily conversations"
    assert alignment_query("Car brands on heavily blurred images") == "Car brands"


def test_degradation_kinds_and_strengths_are_read_in_order() -> None:
    assert image_degradations("heavily blurred images") == [{"op": "blur", "params": {"sigma": 6.0}}]
    assert image_degradations("blurred and then JPEG quality 10 images") == [
        {"op": "blur", "params": {"sigma": 3.0}}, {"op": "jpeg", "params": {"quality": 10}}]
    assert image_degradations("slightly low-resolution photos") == [{"op": "resize", "params": {"scale": 0.5}}]
    assert audio_noise("speech under babble noise at 5 dB") == {"noise": "babble", "snr_db": 5.0}
    assert audio_noise("speech under real background noise")["noise"] == "recorded"
    assert audio_noise("clean speech") == {}


def test_a_clause_count_is_its_own_and_a_total_is_not() -> None:
    assert requested_count("Read clocks in 7 items") == 7
    assert requested_count("clocks with 12 questions") == 12
    assert requested_count("a benchmark of 50 items on car brands") is None
    assert requested_count("50 items in total on clocks") is None


def test_asks_the_offline_policy_cannot_honour_are_reported() -> None:
    designer = OfflineDesigner()
    subtasks = designer.propose("Answer general knowledge questions in French, and draw entailment conclusions")
    assert [s.recipe for s in subtasks] == ["entailment-mcq"]
    assert "English only" in designer.not_covered["Answer general knowledge questions in French"]
    designer = OfflineDesigner()
    assert all("image" not in s.modality for s in designer.propose("Recognise shapes and read clocks, no images"))


@pytest.mark.slow
def test_heavily_blurred_builds_blur_every_item_and_measure_it(gb_mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = run("Recognise car brands on heavily blurred and JPEG compressed images", gb_mini, out, size=6)
    assert state["status"] == "done"
    built = items(out)
    assert len(built) == 6
    for item in built:
        assert item["metadata"]["degradations"] == [{"op": "blur", "params": {"sigma": 6.0}},
                                                    {"op": "jpeg", "params": {"quality": 30.0}}]
        measured = item["metadata"]["measured_degradation"]
        assert measured["sharpness_loss"] >= 0.95 and measured["blockiness"] >= 1.1
        assert {"degradation_blur", "degradation_jpeg"} <= set(item["metadata"]["checks"])


@pytest.mark.slow
def test_a_count_a_clause_asks_for_is_its_subtask_quota(tmp_path: Path) -> None:
    from tools.pool import DEMO_POOL

    state = run("Read analogue clocks in 7 items, and recognise shapes", DEMO_POOL, tmp_path / "out", size=10)
    assert state["status"] == "done"
    clocks = next(s.id for s in state["subtasks"] if s.clause.startswith("Read analogue clocks"))
    shapes = next(s.id for s in state["subtasks"] if s.clause == "recognise shapes")
    per = state["summary"]["per_subtask"]
    assert per[clocks] == {"target": 7, "accepted": 7, "rejected": 0, "asked": 7}
    assert per[shapes]["target"] == 3 and state["summary"]["requested"] == 10
    assert sum(i["subtask"] == clocks for i in items(tmp_path / "out")) == 7
