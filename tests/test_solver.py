"""The allocation solver (tools.plans.solver): the integer programme, its diagnosis and adjustment, and
the diagnose node's routing. Expectations are exact; the randomised test checks every answer against
a brute-force enumeration written here, not against the solver."""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import product

from langgraph.runtime import Runtime

from agents.allocation import make_diagnose_node
from state.context import Context
from state.models import Allocation, Grounding, PlanScores, Quota, Subtask, TransformPlan
from tools.plans.solver import adjust, diagnose, examine, propose, solve


def _g(subtask: str, dataset: str, capacity: int, expected_yield: float = 1.0) -> Grounding:
    return Grounding(subtask=subtask, plan=TransformPlan(recipe="r", dataset=dataset),
                     scores=PlanScores(alignment=1, robustness=1, preservation=1), capacity=capacity,
                     expected_yield=expected_yield)


def _targets(alloc: Allocation) -> dict[str, int]:
    return {q.grounding: q.target for q in alloc.quotas}


def _q(grounding: str, target: int) -> Quota:
    subtask, dataset = grounding.split("@")
    return Quota(subtask=subtask, dataset=dataset, grounding=grounding, target=target)


# --- feasible: balanced across subtasks, proportional within -------------------------------------------

def test_a_feasible_size_is_split_evenly_and_in_proportion_to_what_each_dataset_yields() -> None:
    gs = [_g("a", "x", 10), _g("a", "y", 30), _g("b", "z", 40)]
    # 10 each; a's 10 split 1:3 is 2.5/7.5, a tie broken towards the first key (a@x)
    assert _targets(propose(20, ["a", "b"], gs)) == {"a@x": 3, "a@y": 7, "b@z": 10}
    # the odd item goes to a, where 11 splits 2.75/8.25 (off by 0.5) rather than 10 (off by 1)
    alloc = propose(21, ["a", "b"], gs)
    assert [(q.grounding, q.target) for q in alloc.quotas] == [("a@x", 3), ("a@y", 8), ("b@z", 10)]
    assert alloc.total == 21 and diagnose(alloc, gs) == []


def test_expected_yield_caps_a_quota() -> None:
    gs = [_g("a", "x", 10, 0.9), _g("b", "y", 100, 0.9)]  # a@x can yield floor(9.0) = 9
    assert _targets(propose(18, ["a", "b"], gs)) == {"a@x": 9, "b@y": 9}
    assert solve(20, ["a", "b"], gs) is None  # a would need 10


# --- a capacity-starved subtask: diagnosed by name and amount, the others take its shortfall ------------

STARVED = [_g("text-mcq", "counting", 4, 0.9), _g("entailment-mcq", "nli", 20, 0.9), _g("c", "w", 20, 0.9)]
SUBS = ["text-mcq", "entailment-mcq", "c"]


def test_a_starved_subtask_is_named_with_its_shortfall_and_the_others_take_it() -> None:
    alloc = propose(15, SUBS, STARVED)  # the balanced request: 5 each, text-mcq yields 3
    assert _targets(alloc) == {"text-mcq@counting": 5, "entailment-mcq@nli": 5, "c@w": 5}
    assert diagnose(alloc, STARVED) == ["text-mcq@counting asks 5 items but can yield about 3",
                                        "subtask text-mcq can yield 3 items, its share needs 5 (short by 2)"]
    found = examine(alloc, STARVED)
    assert (found.short, found.missing, found.starved, found.repairable) == ({"text-mcq": 2}, 0, {}, True)
    fixed = adjust(alloc, STARVED)
    assert _targets(fixed) == {"text-mcq@counting": 3, "entailment-mcq@nli": 6, "c@w": 6}
    assert diagnose(fixed, STARVED) == []


def test_the_odd_item_of_a_relaxed_split_goes_to_the_first_key() -> None:
    fixed = adjust(propose(16, SUBS, STARVED), STARVED)
    assert _targets(fixed) == {"text-mcq@counting": 3, "entailment-mcq@nli": 6, "c@w": 7}  # "c@w" sorts first


def test_an_uneven_remainder_no_subtask_can_take_is_named() -> None:
    gs = [_g("a", "x", 3), _g("b", "y", 3), _g("c", "z", 100)]  # 11 = 3 + 4 + 4, only c can take 4
    assert solve(11, ["a", "b", "c"], gs) is None
    found = examine(propose(11, ["a", "b", "c"], gs), gs)
    assert found.binding == ["the even split gives 2 subtasks 4 items, only 1 can yield that many (short by 1)"]
    assert _targets(solve(11, ["a", "b", "c"], gs, relaxed=True)) == {"a@x": 3, "b@y": 3, "c@z": 5}


# --- infeasible even relaxed ------------------------------------------------------------------------------

TWO = [_g("text-mcq", "counting", 4, 0.9), _g("entailment-mcq", "nli", 20, 0.9)]


def test_total_capacity_below_the_size_is_diagnosed_with_the_shortfall() -> None:
    alloc = propose(40, ["text-mcq", "entailment-mcq"], TWO)
    assert diagnose(alloc, TWO) == [
        "text-mcq@counting asks 20 items but can yield about 3",
        "entailment-mcq@nli asks 20 items but can yield about 18",
        "the groundings can yield 21 items in all, 40 were asked (short by 19)",
        "subtask text-mcq can yield 3 items, its share needs 20 (short by 17)",
        "subtask entailment-mcq can yield 18 items, its share needs 20 (short by 2)",
    ]
    found = examine(alloc, TWO)
    assert (found.missing, found.repairable) == (19, False)
    assert solve(40, ["text-mcq", "entailment-mcq"], TWO, relaxed=True) is None
    best = adjust(alloc, TWO)  # the most the data allows, still short
    assert _targets(best) == {"text-mcq@counting": 3, "entailment-mcq@nli": 18} and best.total == 40
    assert diagnose(best, TWO)[0] == "quotas sum to 21, the benchmark needs 40"


def test_a_subtask_that_cannot_yield_one_item_and_a_size_below_one_per_subtask() -> None:
    gs = [_g("a", "x", 1, 0.9), _g("b", "y", 50)]  # a@x: floor(0.9) = 0
    found = examine(propose(10, ["a", "b"], gs), gs)
    assert found.binding == ["subtask a can yield 0 items, it needs at least 1 (short by 1)"]
    assert (found.starved, found.repairable) == ({"a": 1}, False)
    assert solve(10, ["a", "b"], gs, relaxed=True) is None
    gs = [_g("a", "x", 9), _g("b", "y", 9), _g("c", "z", 9)]
    found = examine(propose(2, ["a", "b", "c"], gs), gs)
    assert found.binding == ["3 subtasks need at least 1 item(s) each, 2 were asked (short by 1)"]
    assert (found.min_size, found.repairable) == (3, False)


# --- determinism ---------------------------------------------------------------------------------------------

def test_the_answer_is_the_same_every_time_and_in_any_grounding_order() -> None:
    gs = [_g("a", "p", 7), _g("a", "q", 7), _g("a", "r", 7), _g("b", "s", 5), _g("b", "t", 5)]
    first = _targets(propose(11, ["a", "b"], gs))
    assert first == {"a@p": 2, "a@q": 2, "a@r": 2, "b@s": 3, "b@t": 2}  # 6 = 2+2+2, 5 = 2.5+2.5 -> 3+2
    for seed in range(5):
        shuffled = random.Random(seed).sample(gs, len(gs))
        assert _targets(propose(11, ["a", "b"], shuffled)) == first
    # the tie follows the key, not the position: rename the datasets and the odd item moves with them
    renamed = [_g("b", "u", 5), _g("b", "a", 5)]
    assert _targets(propose(11, ["a", "b"], gs[:3] + renamed))["b@a"] == 3


# --- allocations from elsewhere (a model, a reviewer's edit) ---------------------------------------------------

HAND = [_g("a", "x", 10), _g("a", "y", 10), _g("b", "z", 10)]


def test_a_valid_hand_edit_passes_even_unbalanced() -> None:
    alloc = Allocation(total=12, quotas=[_q("a@x", 1), _q("a@y", 1), _q("b@z", 10)])
    assert diagnose(alloc, HAND) == []  # balance is what the solver aims for, not a rule for reviewers


def test_each_kind_of_invalid_hand_edit_is_named() -> None:
    def problems(*quotas: Quota, total: int = 12) -> list[str]:
        return diagnose(Allocation(total=total, quotas=list(quotas)), HAND)

    assert problems(_q("a@x", 11), _q("b@z", 1)) == ["a@x asks 11 items but can yield about 10"]
    assert problems(_q("a@x", 6), _q("b@z", 6), total=13) == ["quotas sum to 12, the benchmark needs 13"]
    assert problems(_q("a@x", 6), _q("a@y", 6), _q("b@z", 0)) == ["subtask b gets 0 items, it needs at least 1"]
    assert problems(_q("a@x", 6), _q("b@z", 4), _q("b@w", 2)) == [
        "b@w asks 2 items but is not one of the grounded candidates"]
    assert problems(_q("a@x", 6), _q("b@z", 3), _q("b@z", 3)) == ["b@z has more than one quota"]
    stray = Allocation(total=12, quotas=[_q("a@x", 6), _q("b@z", 4), _q("zzz@w", 2)])  # a subtask nobody grounded
    assert diagnose(stray, HAND) == ["zzz@w asks 2 items but is not one of the grounded candidates"]
    assert examine(stray, HAND).repairable and _targets(adjust(stray, HAND)) == {"a@x": 3, "a@y": 3, "b@z": 6}
    wrong = Quota(subtask="b", dataset="x", grounding="a@x", target=6)
    assert problems(wrong, _q("b@z", 6)) == ["a@x is labelled subtask b on x, the grounding is subtask a on x"]
    fixed = adjust(Allocation(total=12, quotas=[_q("a@x", 11), _q("b@w", 1)]), HAND)  # within the candidates
    assert _targets(fixed) == {"a@x": 3, "a@y": 3, "b@z": 6} and diagnose(fixed, HAND) == []


# --- the diagnose node's routing -------------------------------------------------------------------------

def _route(alloc: Allocation, gs: list[Grounding], subtasks: tuple[str, ...] = (), **ctx: int):
    node = make_diagnose_node()
    design = [Subtask(id=s, name=s, description=s, recipe="text-mcq", modality="text") for s in subtasks]
    state = {"allocation": alloc, "groundings": gs, "subtasks": design, "adjust_rounds": 0, "design_rounds": 1,
             "run_dir": ""}
    return node(state, Runtime(context=Context(**ctx), stream_writer=lambda _: None))


def test_the_node_adjusts_what_relaxing_can_repair_and_sends_the_rest_upstream() -> None:
    assert _route(propose(15, SUBS, STARVED), STARVED).goto == "adjust"
    short = _route(propose(40, ["text-mcq", "entailment-mcq"], TWO), TWO)
    assert short.goto == "design" and short.update["shortfall"] == 19
    assert "can yield about 21 items, 40 were asked" in short.update["design_feedback"][0]
    gs = [_g("a", "x", 1, 0.9), _g("b", "y", 50)]
    starved = _route(propose(10, ["a", "b"], gs), gs)  # no adjustment can help: straight back, a rejected
    assert starved.goto == "design" and starved.update["shortfall"] == 0
    assert starved.update["rejected_subtasks"] == {
        "a": "subtask a can yield 0 items, fewer than the 1 every subtask needs"}
    ungrounded = _route(propose(10, ["a", "b", "c"], HAND), HAND, ("a", "b", "c"))  # c found no data at all
    assert ungrounded.goto == "design" and list(ungrounded.update["rejected_subtasks"]) == ["c"]
    gs = [_g("a", "x", 9), _g("b", "y", 9), _g("c", "z", 9)]
    small = _route(propose(2, ["a", "b", "c"], gs), gs, max_design_rounds=1)
    assert small.goto == "assemble" and small.update["status"] == "refused"
    assert "ask for --size 3 or more" in small.update["message"]


# --- randomised: every answer checked against brute force ----------------------------------------------------

def _limit(g: Grounding) -> int:
    return g.capacity // 2 if g.expected_yield == 0.5 else g.capacity  # the instances use yields 1 and 0.5


def _brute(total: int, subs: list[str], gs: list[Grounding], relaxed: bool) -> tuple[int, ...] | None:
    """The best quota vector (in key order) by enumeration: size, yield, minimum and balance hold; the
    spread is least; among those, the lexicographically greatest."""
    keyed = sorted(gs, key=lambda g: g.key)
    cap = {s: sum(_limit(g) for g in keyed if g.subtask == s) for s in subs}
    best: tuple[Fraction, tuple[int, ...]] | None = None
    for x in product(*(range(_limit(g) + 1) for g in keyed)):
        if sum(x) != total:
            continue
        got = {s: sum(v for v, g in zip(x, keyed) if g.subtask == s) for s in subs}
        if min(got.values()) < 1:
            continue
        if relaxed:
            if any(got[s] < got[t] - 1 and got[s] != cap[s] for s in subs for t in subs):
                continue
        elif max(got.values()) - min(got.values()) > 1:
            continue
        spread = sum(abs(v - Fraction(got[g.subtask] * _limit(g), cap[g.subtask])) for v, g in zip(x, keyed))
        if best is None or (spread, tuple(-v for v in x)) < (best[0], tuple(-v for v in best[1])):
            best = (spread, x)
    return None if best is None else best[1]


def _instance(rng: random.Random) -> tuple[int, list[str], list[Grounding]]:
    subs = rng.sample(["s1", "s2", "s3"], rng.randint(1, 3))
    gs = []
    for s in subs:
        for d in rng.sample("pqr", rng.randint(0 if rng.random() < 0.1 else 1, 2)):
            gs.append(_g(s, d, rng.randint(0, 6), rng.choice([1.0, 0.5])))
    return rng.randint(1, 12), subs, gs[:5]


def test_the_solver_respects_every_constraint_on_random_instances() -> None:
    rng = random.Random(20240607)
    counts = {"strict": 0, "relaxed only": 0, "infeasible": 0}
    for _ in range(150):
        total, subs, gs = _instance(rng)
        keyed = sorted(gs, key=lambda g: g.key)
        strict, relaxed = _brute(total, subs, gs, False), _brute(total, subs, gs, True)
        for flag, want in ((False, strict), (True, relaxed)):
            got = solve(total, subs, gs, relaxed=flag)
            assert (None if got is None else tuple(_targets(got)[g.key] for g in keyed)) == want, (total, subs, gs)
        alloc = propose(total, subs, gs)
        found = examine(alloc, gs, subs)
        assert (diagnose(alloc, gs) == []) == (strict is not None)
        assert (found.binding == []) == (strict is not None)
        assert found.repairable == (relaxed is not None)
        fixed = adjust(alloc, gs)
        if relaxed is not None:
            assert tuple(_targets(fixed)[g.key] for g in keyed) == (strict or relaxed)
            assert diagnose(fixed, gs) == []
        counts["strict" if strict else "relaxed only" if relaxed else "infeasible"] += 1
    assert min(counts.values()) >= 15, counts  # the instances exercise every case
