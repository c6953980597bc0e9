"""Blind solvers: each strategy's pick on hand-made items, the report's arithmetic, and distractor sampling
that leaves every blind solver at chance (while the old nearest-neighbour sampling is caught)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from support import GB_MINI, needs_gb_mini, run, write_dataset

from state.models import Step
from tools.plans.distractors import AnswerCounts, exchangeable_distractors
from tools.plans.steps import Draft, StepEnv, run_step
from tools.plans.steps import text as text_steps
from tools.pool import DEMO_POOL, Pool
from tools.quality.blind import blind_picks, blind_report
from tools.run_store import RunStore
from tools.text import LETTERS, similarity

NO_COUNTS: Counter[str] = Counter()


def _mc(choices: list[str], answer: int, question: str = "Which one?", subtask: str = "s", **extra) -> dict:
    return {"id": f"{subtask}-{len(choices)}-{answer}-{'|'.join(choices)}", "subtask": subtask, "question": question,
            "choices": choices, "answer": LETTERS[answer], "answer_text": choices[answer], **extra}


@pytest.mark.parametrize(("choices", "question", "solver", "pick"), [
    (["blue", "blue green", "green", "red"], "", "medoid", 1),  # shares a word with two others
    (["a", "bbb", "cc", "dddd"], "", "longest", 3),
    (["aa", "bbbb", "c", "ddd"], "", "shortest", 2),
    (["aa", "bb", "c", "d"], "", "longest", None),  # a tie is no answer
    (["apple", "yellow banana", "cherry", "grape"], "Which fruit is yellow and curved?", "question_overlap", 1),
    (["apple", "banana"], "Which fruit is curved?", "question_overlap", None),
    (["Ford", "Tesla", "Kia"], "Is this logo Tesla's or someone else's?", "named_in_question", 1),
    (["Ford", "Tesla", "Kia"], "Founded at Fordham?", "named_in_question", None),  # whole words only
    (["Ford", "Tesla", "Kia"], "Ford or Tesla?", "named_in_question", None),
    (["Ford", "Tesla", "Kia"], "", "first", 0),
])
def test_each_solver_picks_what_its_strategy_says(choices: list[str], question: str, solver: str,
                                                  pick: int | None) -> None:
    assert blind_picks(_mc(choices, 0, question), NO_COUNTS)[solver] == pick


def test_frequent_label_follows_the_counts_it_is_given() -> None:
    item = _mc(["Ford", "Tesla", "Kia"], 0)
    assert blind_picks(item, Counter({"tesla": 3, "ford": 1}))["frequent_label"] == 1
    assert blind_picks(item, Counter({"tesla": 2, "ford": 2}))["frequent_label"] is None
    assert blind_picks(item, NO_COUNTS)["frequent_label"] is None


def test_a_spoken_items_script_is_never_read() -> None:
    item = _mc(["a banana", "a cherry"], 0, "Which reply comes next?",
               metadata={"turns": [{"speaker": "A", "text": "Do you want a banana?"}]})
    assert blind_picks(item, NO_COUNTS)["question_overlap"] is None


def test_report_scores_each_solver_against_chance() -> None:
    # The key is always the longest option; 3- and 4-option items mix, so chance is their mean.
    items = [_mc(["x" * (i + 5), "y", "zz", "w"][: 3 + i % 2], 0, subtask="long") for i in range(20)]
    items.append({"id": "open", "subtask": "long", "question": "q", "choices": None, "answer": "x", "answer_text": "x"})
    report = blind_report(items)["long"]
    assert report["n"] == 20
    assert report["chance"] == pytest.approx((10 / 3 + 10 / 4) / 20, abs=1e-4)
    assert report["accuracy"]["longest"] == 1.0 and report["worst"] == "longest"
    assert report["worst_excess"] == pytest.approx(1 - report["chance"], abs=1e-4)
    assert report["p_value"] < 1e-6
    assert report["accuracy"]["shortest"] == 0.0


def test_frequent_label_is_fitted_leaving_the_item_out() -> None:
    # Every item has its own answer: seen with its own key counted, the solver would score 100%.
    items = [_mc([f"label {i}", f"other {i}", f"third {i}"], 0) for i in range(30)]
    assert blind_report(items)["s"]["accuracy"]["frequent_label"] == 0.0


def _nearest_neighbours(truth: str, counts: dict[str, int], n: int, rng: random.Random) -> list[str]:
    """The sampling issue 8 reported: distractors from the labels most similar to the truth."""
    ranked = sorted((x for x in counts if x != truth), key=lambda x: (-similarity(truth, x), x))
    return rng.sample(ranked[: max(8, n)], n)


def _step_items(pool: Pool, dataset: str, step: Step, tmp_path: Path, copies: int, question) -> list[dict]:
    """Items from running one choice step on every row of a dataset, `copies` times each (other item ids,
    other draws), without media, so many items cost little."""
    store, card, out = RunStore(tmp_path / "run"), pool.card(dataset), []
    for copy in range(copies):
        for row in pool.rows(dataset):
            draft = Draft(question=question(row))
            env = StepEnv(pool=pool, card=card, row=row, store=store, item_id=f"{row.sample_id}~{copy}", seed=0)
            run_step(step, draft, env)
            out.append({"id": env.item_id, "subtask": dataset, "question": draft.question, "choices": draft.choices,
                        "answer": draft.answer, "answer_text": draft.answer_text})
    return out


def _speakers_question(row) -> str:
    names = list(dict.fromkeys(t.get("speaker") or "B" for t in row.values["dialogue"]))
    return f"Listen to the conversation between {' and '.join(names)}. Which reply would {names[-1]} say next?"


CASES = [
    pytest.param(DEMO_POOL, "clocks", "label_choices", lambda row: "What time does the clock show?", 4, id="clocks"),
    pytest.param(DEMO_POOL, "daily-dialogues", "response_choices", _speakers_question, 5, id="replies"),
    pytest.param(GB_MINI, "image-car_brands_recognition", "label_choices", lambda row: "Which car brand is this?", 1,
                 id="car-logos", marks=needs_gb_mini),
]


@pytest.mark.parametrize(("root", "dataset", "tool", "question", "copies"), CASES)
def test_distractors_leave_blind_solvers_at_chance(tmp_path: Path, root: Path, dataset: str, tool: str, question,
                                                   copies: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = Pool(root)  # the session's card cache: other tests may have read this pool already
    report = blind_report(_step_items(pool, dataset, Step(tool=tool), tmp_path, copies, question))[dataset]
    assert report["n"] >= 190
    assert report["worst_excess"] < 0.10, report
    # The old sampling, through the same step, is caught: the truth sits at the centre of its options.
    monkeypatch.setattr(text_steps, "exchangeable_distractors", _nearest_neighbours)
    old = blind_report(_step_items(pool, dataset, Step(tool=tool), tmp_path, copies, question))[dataset]
    assert old["worst"] == "medoid" and old["worst_excess"] > 0.15 and old["p_value"] < 1e-3, old


def test_distractor_weights_hide_a_frequent_label() -> None:
    # One label keys 20% of rows. Drawn as often as the others it would be in few option sets and then
    # often the key; with calibrated weights its share of option sets matches its share of keys, so given
    # a set holding it, it keys a quarter of them.
    counts = AnswerCounts({"common": 20, **{f"rare {i}": 5 for i in range(16)}})
    rows = [label for label, n in counts.items() for _ in range(n)]
    rng, hits, present = random.Random(5), 0, 0
    for _ in range(4000):
        truth = rng.choice(rows)
        options = [truth, *exchangeable_distractors(truth, counts, 3, rng)]
        present += "common" in options
        hits += truth == "common"
    assert hits / present == pytest.approx(0.25, abs=0.03)


def test_reply_options_are_never_near_copies_of_each_other(tmp_path: Path) -> None:
    replies = {"d0": "I'll meet you at the station at noon.", "d1": "I'll meet you at the station at noon!",
               "d2": "Meet me at the station at one, then.", "d3": "I'll meet you at the bus stop at noon.",
               "d4": "The cat is asleep on the sofa.", "d5": "Pasta sounds good for dinner tonight."}
    turns = [{"speaker": "A", "text": "Where shall we meet?"}, {"speaker": "B", "text": "Somewhere central."}]
    write_dataset(tmp_path / "pool", "talk", [{"id": k, "dialogue": turns, "response": v} for k, v in replies.items()])
    pool = Pool(tmp_path / "pool", cache_dir=tmp_path / "cache")
    step = Step(tool="response_choices", params={"n_options": 3})
    drawn = [set(i["choices"]) for i in _step_items(pool, "talk", step, tmp_path, 10, lambda row: "Which reply?")]
    assert all(len(c) == 3 for c in drawn)
    assert not any({replies["d0"], replies["d1"]} <= c for c in drawn)
    assert any(replies["d0"] in c for c in drawn if replies["d1"] not in c) and any(replies["d1"] in c for c in drawn)


@pytest.mark.slow
@pytest.mark.parametrize(("root", "requirement", "size", "subtasks"), [
    pytest.param(DEMO_POOL, "recognise shapes and read clocks in images", 90, 2, id="shapes-clocks"),
    pytest.param(GB_MINI, "recognise car brands in images", 44, 1, id="car-logos", marks=needs_gb_mini),
])
def test_a_build_reports_blind_solvers_at_chance(tmp_path: Path, root: Path, requirement: str, size: int,
                                                 subtasks: int) -> None:
    out = tmp_path / "out"
    state = run(requirement, root, out, size=size)
    assert state["status"] == "done"
    quality = json.loads((out / "summary.json").read_text())["quality"]
    assert len(quality["blind_solvers"]) == subtasks
    for report in quality["blind_solvers"].values():
        assert report["n"] >= 40 and report["worst_excess"] < 0.10, report
    assert all(r["p_value"] > 0.05 for r in quality["letters"]["per_subtask"].values())


@pytest.mark.slow
def test_the_verifier_holds_blind_solvers_to_chance_even_with_leaky_distractors(tmp_path: Path, monkeypatch) -> None:
    """With the old nearest-label sampler (medoid far above chance at step level), the verifier's running
    guard sends back items a solver already ahead would answer: the build stays within the bound."""
    monkeypatch.setattr(text_steps, "exchangeable_distractors", _nearest_neighbours)
    out = tmp_path / "out"
    state = run("read analogue clocks in images", DEMO_POOL, out, size=40)
    assert state["summary"]["accepted"] >= 30
    guarded = [r for r in json.loads((out / "summary.json").read_text())["quality"]["blind_solvers"].values()]
    assert all(row["excess"][name] <= 0.10 for row in guarded for name in row["excess"] if name != "first")
    sent_back = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert any("no_blind_shortcut" in r["failed"] for r in sent_back)


def test_the_guard_lets_a_solver_lead_by_two_items_or_five_percent() -> None:
    from tools.quality.blind import counted, guarded_hits, new_tally, shortcut

    item = {"choices": ["3:00", "3:30", "4:00", "9:00"], "answer": "A", "question": "What time is it?"}
    tally = new_tally()
    for _ in range(2):  # the medoid picks the key ("3:00") of every one of these items
        hits = guarded_hits(tally, item)
        assert hits["medoid"] and shortcut(tally, hits, 4) is None
        tally = counted(tally, item, hits)
    assert tally["hits"]["medoid"] == 2 and tally["n"] == 2
    assert shortcut(tally, guarded_hits(tally, item), 4) == "medoid"  # a third hit: 3 > 0.75 expected + 2
    other = {**item, "answer": "D"}  # a key no solver picks is always welcome
    hits = guarded_hits(tally, other)
    assert shortcut(tally, hits, 4) is None and counted(tally, other, hits)["hits"]["medoid"] == 2
