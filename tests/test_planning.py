"""The offline planner's rules: which recipes a requirement gets, and the allocation solver."""

from __future__ import annotations

import pytest

from agents.design import OfflineDesigner
from state.models import Grounding, PlanScores, TransformPlan
from tools.plans.solver import adjust, diagnose, limit, propose


@pytest.mark.parametrize(
    ("requirement", "recipes"),
    [
        ("evaluate whether a model can recognise fine-grained categories in photos", ["image-label-mcq"]),
        ("recognise shapes, draw entailment conclusions and follow spoken dialogues",
         ["image-label-mcq", "entailment-mcq", "dialogue-audio-mcq"]),
        ("robustness of recognising car brands in blurry or compressed photos", ["image-robustness-mcq"]),
        ("causal reasoning with multiple choice questions; open-ended temporal questions",
         ["text-mcq", "text-open-qa"]),
        ("answer questions about diagrams in images", ["image-mcq"]),
        ("zzzz qqqq", []),
    ],
)
def test_requirement_to_recipes(requirement: str, recipes: list[str]) -> None:
    assert [s.recipe for s in OfflineDesigner().propose(requirement)] == recipes


def test_audio_settings_are_read_from_the_requirement() -> None:
    (sub,) = OfflineDesigner().propose("follow spoken conversations under babble noise at 5 dB SNR")
    assert sub.settings == {"noise": "babble", "snr_db": 5.0}
    (quiet,) = OfflineDesigner().propose("follow spoken conversations")
    assert quiet.settings == {}


def test_revise_swaps_a_rejected_subtask_to_its_next_alternative_and_drops_it_when_none_is_left() -> None:
    (sub,) = OfflineDesigner().propose("recognise fine-grained categories in photos")
    revised = OfflineDesigner().revise([sub], {sub.id: "no data"}, shortfall=0)
    assert [s.recipe for s in revised] == [sub.alternatives[0]]
    assert revised[0].alternatives == sub.alternatives[1:]
    last = sub.model_copy(update={"alternatives": []})
    assert OfflineDesigner().revise([last], {last.id: "no data"}, shortfall=0) == []


def test_a_rejected_clause_stays_its_own_subtask_on_the_recipe_another_one_uses() -> None:
    shapes, clocks = OfflineDesigner().propose("recognise shapes, read clocks in images")
    assert (shapes.recipe, clocks.recipe) == ("image-label-mcq", "image-mcq")
    assert clocks.alternatives[0] == "image-label-mcq"
    kept, moved = OfflineDesigner().revise([shapes, clocks], {clocks.id: "no options"}, shortfall=0)
    assert kept == shapes and moved.recipe == "image-label-mcq" and moved.id != shapes.id
    assert moved.id == "image-label-mcq.read-clocks-in-images" and moved.clause == "read clocks in images"


def test_two_clauses_on_one_recipe_are_two_subtasks() -> None:
    ethics, social = OfflineDesigner().propose("answer ethics questions and social science questions")
    assert ethics.recipe == social.recipe == "text-mcq"
    assert (ethics.id, social.id) == ("text-mcq", "text-mcq.social-science-questions")
    assert "ethic" in ethics.keywords and "social" in social.keywords and "social" not in ethics.keywords


def test_shortfall_adds_an_alternative_subtask() -> None:
    (sub,) = OfflineDesigner().propose("recognise fine-grained categories in photos")
    revised = OfflineDesigner().revise([sub], {}, shortfall=5)
    assert [s.recipe for s in revised] == [sub.recipe, sub.alternatives[0]]


def _g(subtask: str, dataset: str, capacity: int) -> Grounding:
    return Grounding(subtask=subtask, plan=TransformPlan(recipe="r", dataset=dataset),
                     scores=PlanScores(alignment=1, robustness=1, preservation=1), capacity=capacity,
                     expected_yield=0.9)


def test_propose_is_balanced_across_subtasks_and_proportional_within() -> None:
    gs = [_g("a", "x", 100), _g("a", "y", 300), _g("b", "z", 50)]
    alloc = propose(21, ["a", "b"], gs)
    assert [(q.grounding, q.target) for q in alloc.quotas] == [("a@x", 3), ("a@y", 8), ("b@z", 10)]
    assert diagnose(alloc, gs) == []


def test_diagnose_names_over_capacity_quotas_and_adjust_rebalances() -> None:
    gs = [_g("a", "x", 4), _g("b", "y", 40), _g("c", "z", 40)]
    alloc = propose(30, ["a", "b", "c"], gs)
    problems = diagnose(alloc, gs)
    assert problems == [f"a@x asks 10 items but can yield about {limit(gs[0])}",
                        "subtask a can yield 3 items, its share needs 10 (short by 7)"]
    fixed = adjust(alloc, gs)
    assert diagnose(fixed, gs) == []
    assert {q.grounding: q.target for q in fixed.quotas} == {"a@x": 3, "b@y": 14, "c@z": 13}


def test_adjust_cannot_exceed_total_capacity() -> None:
    gs = [_g("a", "x", 4), _g("b", "y", 4)]
    fixed = adjust(propose(20, ["a", "b"], gs), gs)
    assert sum(q.target for q in fixed.quotas) == 6
    assert "quotas sum to 6, the benchmark needs 20" in diagnose(fixed, gs)
