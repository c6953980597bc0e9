"""Answer letters: balanced per subtask and option count, deterministic, meaning-bearing orders kept; the
report's counts and p-values; a build over a source that always keys "A" comes out balanced."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from support import mcq_rows, run, write_dataset

from graph import lifecycle
from tools.quality.letters import balance_letters, keeps_order, letter_report
from tools.text import LETTERS


def _item(i: int, k: int = 4, key: int = 0, subtask: str = "s", choices: list[str] | None = None,
          question: str = "Which one?") -> dict:
    choices = choices or [f"option {i}.{j}" for j in range(k)]
    return {"id": f"{subtask}-{i:03d}", "subtask": subtask, "question": question, "choices": choices,
            "answer": LETTERS[key], "answer_text": choices[key]}


def _letters(items: list[dict]) -> Counter[str]:
    return Counter(i["answer"] for i in items)


def test_keys_spread_evenly_and_each_item_keeps_its_answer() -> None:
    items = [_item(i) for i in range(42)]
    balanced = balance_letters(items, seed=0)
    counts = _letters(balanced)
    assert sorted(counts) == list("ABCD") and max(counts.values()) - min(counts.values()) <= 1
    for before, after in zip(items, balanced):
        assert after["answer_text"] == before["answer_text"] == after["choices"][LETTERS.index(after["answer"])]
        distractors = [c for c in before["choices"] if c != before["answer_text"]]
        assert [c for c in after["choices"] if c != after["answer_text"]] == distractors  # their order kept


def test_groups_are_subtask_and_option_count() -> None:
    items = [_item(i, k=3, subtask="three") for i in range(30)] + [_item(i, subtask="four") for i in range(8)]
    items += [{"id": "open", "subtask": "four", "question": "q", "choices": None, "answer": "x", "answer_text": "x"}]
    balanced = balance_letters(items, seed=1)
    assert _letters(balanced[:30]) == Counter({"A": 10, "B": 10, "C": 10})
    assert _letters(balanced[30:38]) == Counter({"A": 2, "B": 2, "C": 2, "D": 2})
    assert balanced[-1] == items[-1]


def test_positions_depend_on_seed_and_ids_not_on_build_order() -> None:
    items = [_item(i) for i in range(24)]
    shuffled = items[::-1]
    random.Random(3).shuffle(shuffled)
    by_id = {i["id"]: i for i in balance_letters(items, seed=0)}
    assert {i["id"]: i for i in balance_letters(shuffled, seed=0)} == by_id
    assert balance_letters(list(by_id.values()), seed=0) == list(by_id.values())  # balanced stays put
    assert {i["id"]: i for i in balance_letters(items, seed=1)} != by_id


@pytest.mark.parametrize(("choices", "question"), [
    (["red", "blue", "green", "all of the above"], "Which colours?"),
    (["red", "blue", "None of these", "green"], "Which colour?"),
    (["one", "two", "both A and B", "neither"], "Which?"),
    (["cat", "dog", "cow", "hen"], "Is option B a mammal?"),
])
def test_orders_that_carry_meaning_are_kept(choices: list[str], question: str) -> None:
    items = [_item(i, choices=choices, question=question) for i in range(8)]
    assert all(keeps_order(i) for i in items)
    assert balance_letters(items, seed=0) == items


def test_sorted_numbers_are_moved_and_kept_orders_count_towards_the_balance() -> None:
    # Sorted numbers carry no meaning in their order (decided in tools/quality/letters.py): they move.
    numbers = [_item(i, choices=["1", "2", "3", "4"], key=1) for i in range(6)]
    kept = [_item(100 + i, choices=["x", "y", "z", "all of the above"], key=3) for i in range(6)]
    assert not any(keeps_order(i) for i in numbers)
    balanced = balance_letters(numbers + kept, seed=0)
    assert balanced[6:] == kept
    assert _letters(balanced) == Counter({"A": 2, "B": 2, "C": 2, "D": 6})  # the free six avoid D


def test_report_counts_letters_and_tests_them_against_an_even_spread() -> None:
    skewed = [_item(i, key=0 if i % 5 else 1, subtask="a") for i in range(40)]
    report = letter_report(skewed)
    assert report["per_subtask"]["a"]["counts"] == {"A": 32, "B": 8, "C": 0, "D": 0}
    assert report["per_subtask"]["a"]["p_value"] < 1e-6
    # 3- and 4-option items, each spread evenly: D is expected only from the 4-option ones.
    even = [_item(i, k=3, key=i % 3, subtask="b") for i in range(30)] + \
        [_item(100 + i, key=i % 4, subtask="b") for i in range(40)]
    report = letter_report(even)
    assert report["per_subtask"]["b"]["counts"] == {"A": 20, "B": 20, "C": 20, "D": 10}
    assert report["per_subtask"]["b"]["p_value"] == pytest.approx(1.0)
    assert report["overall"]["n"] == 70


REQ = "answer multiple choice counting questions"
CARD = {"name": "counting-mcq", "task": "Counting multiple-choice questions", "answer_kind": "letter",
        "description": "Multiple-choice questions: which number comes after n when counting."}


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_build_over_a_source_keyed_A_comes_out_balanced(tmp_path: Path, shuffle: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pool = tmp_path / "pool"
    write_dataset(pool, "counting-mcq", mcq_rows(60), card=CARD)  # every row keys "A"
    if not shuffle:  # the mutation: without balancing, the summary must show the skew
        monkeypatch.setattr(lifecycle, "balance_letters", lambda items, seed: items)
    out = tmp_path / "out"
    state = run(REQ, pool, out, size=44)
    assert state["status"] == "done"
    quality = json.loads((out / "summary.json").read_text())["quality"]
    letters = quality["letters"]["overall"]
    assert letters["n"] == 44
    built = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert _letters(built) == Counter({k: v for k, v in letters["counts"].items() if v})
    worst = max(r["worst_excess"] for r in quality["blind_solvers"].values())
    if shuffle:
        assert letters["p_value"] > 0.05 and worst < 0.10
    else:
        assert letters["p_value"] < 1e-6 and worst > 0.5
