"""Blind solvers as adversaries: strategies that pick an option without the image, the audio or any
knowledge, from the options and the question text alone. A benchmark whose items a blind solver answers
above chance leaks its answers through how the options were made.

What a blind solver sees is the item's question text (which holds any written context) and its options.
For spoken items the script in metadata["turns"] is the audio's content, so it is never read here.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from scipy.stats import binomtest

from tools.text import LETTERS, content_words, norm, similarity


@dataclass(frozen=True)
class BlindView:
    """What a blind solver may use: the options, the question text and how often each answer text
    keys the other items of the subtask."""

    choices: list[str]
    question: str
    answer_counts: Counter[str]


def _unique_best(scores: list[float], best: Callable[[list[float]], float] = max) -> int | None:
    """The index of the single best score; a tie means the solver has no answer."""
    top = best(scores)
    return scores.index(top) if scores.count(top) == 1 else None


def medoid(view: BlindView) -> int | None:
    """The option most similar, on average, to the other options."""
    return _unique_best([sum(similarity(c, d) for j, d in enumerate(view.choices) if j != i)
                         for i, c in enumerate(view.choices)])


def longest(view: BlindView) -> int | None:
    return _unique_best([len(c) for c in view.choices])


def shortest(view: BlindView) -> int | None:
    return _unique_best([len(c) for c in view.choices], min)


def question_overlap(view: BlindView) -> int | None:
    """The option sharing the most content words with the question (none shared: no answer)."""
    asked = set(content_words(view.question))
    overlap = [len(asked & set(content_words(c))) for c in view.choices]
    return _unique_best(overlap) if max(overlap) > 0 else None


def named_in_question(view: BlindView) -> int | None:
    """The one option whose whole text the question mentions."""
    asked = norm(view.question)
    named = [bool(norm(c)) and re.search(rf"(?<!\w){re.escape(norm(c))}(?!\w)", asked) is not None
             for c in view.choices]
    return named.index(True) if named.count(True) == 1 else None


def frequent_label(view: BlindView) -> int | None:
    """The option that keys the most other items of the subtask (the prior of a label guesser)."""
    counts = [view.answer_counts[norm(c)] for c in view.choices]
    return _unique_best(counts) if max(counts) > 0 else None


def first(view: BlindView) -> int | None:
    return 0


SOLVERS: dict[str, Callable[[BlindView], int | None]] = {
    f.__name__: f for f in (medoid, longest, shortest, question_overlap, named_in_question, frequent_label, first)
}


def is_multiple_choice(item: dict) -> bool:
    choices, answer = item.get("choices") or [], str(item.get("answer", "")).upper()
    return len(choices) >= 2 and len(answer) == 1 and answer in LETTERS[: len(choices)]


def key_text(item: dict) -> str:
    """The normalised text of a multiple-choice item's keyed option."""
    return norm(item["choices"][LETTERS.index(item["answer"].upper())])


def blind_picks(item: dict, answer_counts: Counter[str]) -> dict[str, int | None]:
    """Each solver's pick (an option index, None for no answer). `answer_counts` must leave the item's
    own answer out, or the frequent-label solver would see it."""
    view = BlindView([str(c) for c in item["choices"]], str(item.get("question", "")), answer_counts)
    return {name: solve(view) for name, solve in SOLVERS.items()}


def _subtask_report(items: list[dict]) -> dict:
    keys = Counter(key_text(i) for i in items)
    hits: Counter[str] = Counter()
    for item in items:
        truth = LETTERS.index(item["answer"].upper())
        for name, pick in blind_picks(item, keys - Counter([key_text(item)])).items():
            hits[name] += pick == truth
    n = len(items)
    chance = sum(1 / len(i["choices"]) for i in items) / n
    accuracy = {name: hits[name] / n for name in SOLVERS}
    worst = max(SOLVERS, key=lambda name: (accuracy[name], name))
    # The p-value is of the worst of several solvers, so it is optimistic: a Bonferroni bound multiplies
    # it by len(SOLVERS).
    p = binomtest(hits[worst], n, chance, alternative="greater").pvalue
    return {"n": n, "chance": round(chance, 4),
            "accuracy": {name: round(a, 4) for name, a in accuracy.items()},
            "excess": {name: round(a - chance, 4) for name, a in accuracy.items()},
            "worst": worst, "worst_excess": round(accuracy[worst] - chance, 4), "p_value": float(p)}


def multiple_choice_by_subtask(items: list[dict]) -> dict[str, list[dict]]:
    """The multiple-choice items of each subtask, subtasks sorted."""
    by_subtask: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        if is_multiple_choice(item):
            by_subtask[item["subtask"]].append(item)
    return dict(sorted(by_subtask.items()))


def blind_report(items: list[dict]) -> dict:
    """Per subtask, over its multiple-choice items: how far each blind solver beats chance."""
    return {sub: _subtask_report(group) for sub, group in multiple_choice_by_subtask(items).items()}


# The verifier's guard: a subtask's running tally of blind-solver hits. Exchangeable distractors keep
# every solver at chance in expectation, but a small benchmark still drifts (a 44-item reply build at
# one seed had the medoid 13.6 points up); an item that would push a solver more than LEAD above its
# expected hits is sent back for new distractors. "first" is left out: letters are balanced at assembly.
LEAD_ITEMS, LEAD_SHARE = 2, 0.05
GUARDED = tuple(name for name in SOLVERS if name != "first")


def new_tally() -> dict:
    return {"n": 0, "expected": 0.0, "hits": dict.fromkeys(GUARDED, 0), "keys": {}}


def guarded_hits(tally: dict, item: dict) -> dict[str, bool]:
    """Which guarded solvers answer the item right, the frequent-label one from the keys counted so far."""
    picks = blind_picks(item, Counter(tally["keys"]))
    truth = LETTERS.index(item["answer"].upper())
    return {name: picks[name] == truth for name in GUARDED}


def shortcut(tally: dict, hits: dict[str, bool], options: int) -> str | None:
    """The blind solver an item with these `hits` would put too far above chance in its subtask, or None."""
    allowed = tally["expected"] + 1 / options + max(LEAD_ITEMS, LEAD_SHARE * (tally["n"] + 1))
    return next((name for name in GUARDED if hits[name] and tally["hits"][name] + 1 > allowed), None)


def counted(tally: dict, item: dict, hits: dict[str, bool]) -> dict:
    """The tally with an accepted item (and its `hits`) added."""
    key = key_text(item)
    return {"n": tally["n"] + 1, "expected": tally["expected"] + 1 / len(item["choices"]),
            "hits": {name: tally["hits"][name] + hits[name] for name in GUARDED},
            "keys": {**tally["keys"], key: tally["keys"].get(key, 0) + 1}}
