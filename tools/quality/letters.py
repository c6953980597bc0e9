"""Answer letters: balanced positions for the keyed option, and a report of how they spread.

Sources often put the key in one place (one dataset keys "A" in 83.5% of rows), and a solver that
always answers that letter then beats chance. `balance_letters` moves each item's key to a position
drawn so that, within a subtask and among items with the same number of options, every letter keys
as many items as any other, up to one.

Which orders are kept: an option that refers to other options by place ("all of the above", "both A
and B", "none of these") or a question that names an option by letter ("is option B right?") would
change meaning if moved, so such items keep their source order; their letters count towards the
balance of the rest. Options that are numbers in sorted order are moved: the sort is a reading aid,
not meaning, and it leaks too (the key of a sorted numeric list is seldom an extreme).
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict

from scipy.stats import chisquare

from tools.quality.blind import is_multiple_choice, multiple_choice_by_subtask
from tools.text import LETTERS

_REFERS_TO_OPTIONS = (
    re.compile(r"\b(?:all|none|any|each|both|neither|either)\s+(?:of\s+)?(?:the\s+)?"
               r"(?:above|below|these|those|them|options|choices|answers)\b", re.I),
    re.compile(r"\b[A-J]\s*(?:,|and|or|nor|&)\s*[A-J]\b|^\(?[A-J]\)?$"),  # capitals only: "I, a" is no letter pair
)
_NAMES_A_LETTER = re.compile(r"\b(?:[Oo]ption|[Cc]hoice|[Aa]nswer|[Ss]tatement)s?\s+\(?[A-J]\)?(?![\w'])|\([A-J]\)")


def keeps_order(item: dict) -> bool:
    """True when moving the item's options would change what they or the question say."""
    return (any(rx.search(str(c)) for rx in _REFERS_TO_OPTIONS for c in item["choices"])
            or _NAMES_A_LETTER.search(str(item.get("question", ""))) is not None)


def _targets(n: int, k: int, fixed: Counter[int], rng: random.Random) -> list[int]:
    """`n` key positions among `k`, filling the letters the kept items left lowest first (ties drawn
    by `rng`), in a shuffled order."""
    counts, out = Counter(fixed), []
    for _ in range(n):
        low = min(counts[j] for j in range(k))
        pick = rng.choice([j for j in range(k) if counts[j] == low])
        counts[pick] += 1
        out.append(pick)
    rng.shuffle(out)
    return out


def _with_key_at(item: dict, position: int) -> dict:
    """The item with its keyed option moved to `position`, the other options in their order."""
    choices = list(item["choices"])
    key = choices.pop(LETTERS.index(item["answer"].upper()))
    choices.insert(position, key)
    return {**item, "choices": choices, "answer": LETTERS[position]}


def balance_letters(items: list[dict], seed: int) -> list[dict]:
    """The items, in their order, with keys moved to balanced letters. Positions depend only on the
    seed and the set of item ids (items sorted by id), so the result does not depend on build order,
    and balancing balanced items changes nothing."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for item in items:
        if is_multiple_choice(item):
            groups[(item["subtask"], len(item["choices"]))].append(item)
    moved: dict[str, dict] = {}
    for (subtask, k), group in sorted(groups.items()):
        free = sorted((i for i in group if not keeps_order(i)), key=lambda i: i["id"])
        fixed = Counter(LETTERS.index(i["answer"].upper()) for i in group if keeps_order(i))
        rng = random.Random(f"{seed}:letters:{subtask}:{k}")
        for item, position in zip(free, _targets(len(free), k, fixed, rng)):
            moved[item["id"]] = _with_key_at(item, position)
    return [moved.get(i.get("id"), i) for i in items]


def _letter_stats(items: list[dict]) -> dict:
    counts = Counter(i["answer"].upper() for i in items)
    width = max(len(i["choices"]) for i in items)
    # Expected count of a letter: each item adds 1/k to each of its k letters, so mixed widths compare fairly.
    expected = [sum(1 / len(i["choices"]) for i in items if j < len(i["choices"])) for j in range(width)]
    observed = [counts.get(LETTERS[j], 0) for j in range(width)]
    p = float(chisquare(observed, expected).pvalue) if width > 1 else 1.0
    return {"n": len(items), "counts": dict(zip(LETTERS, observed)), "p_value": p}


def letter_report(items: list[dict]) -> dict:
    """Answer-letter counts per subtask and overall, with the chi-square p-value against an even spread."""
    by_subtask = multiple_choice_by_subtask(items)
    every = [i for group in by_subtask.values() for i in group]
    return {"per_subtask": {sub: _letter_stats(group) for sub, group in by_subtask.items()},
            "overall": _letter_stats(every) if every else {"n": 0, "counts": {}, "p_value": 1.0}}
