"""Distractors exchangeable with the key: option sets drawn from a dataset's answers so that, given the
set, every option is equally likely to be the key.

Drawing the truth's nearest neighbours made it the set's centre (a solver picking the option most like
the others scored 68% on car logos); drawing the other options by conditional Poisson sampling (P(set)
proportional to the product of its members' weights), with weights fitted so that each answer's share
of option sets matches its share of keys, leaves option-only solvers (most central, longest, most
frequent answer, ...) at chance.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache

import numpy as np

from state.models import Row
from tools.plans.steps.core import StepError, row_answers
from tools.text import norm, similarity

MAX_DISTRACTOR_SIMILARITY = 0.8
MAX_DRAWS = 100
REJECTIVE_TRIES = 32


def _elementary_symmetric(w: np.ndarray, size: int) -> list[float]:
    """e_0..e_size of `w`, from its power sums by Newton's identities (vectorised over w)."""
    power = [float(np.sum(w**i)) for i in range(size + 1)]
    e = [1.0]
    for m in range(1, size + 1):
        e.append(sum((-1) ** (i - 1) * e[m - i] * power[i] for i in range(1, m + 1)) / m)
    return e


def _inclusion(w: np.ndarray, size: int) -> np.ndarray:
    """Each member's probability of being in a conditional Poisson `size`-set drawn with weights `w`."""
    e = _elementary_symmetric(w, size)
    without = np.ones_like(w)  # e_j of w without each member, by e_j(w) = e_j(w-x) + x e_(j-1)(w-x)
    for j in range(1, size):
        without = e[j] - w * without
    return np.clip(w * without / e[size], 0.0, 1.0)


@lru_cache(maxsize=64)  # by content, for callers that count a filtered label space afresh per item
def _calibrated_weights(counts: tuple[int, ...], size: int) -> tuple[float, ...]:
    """Weights under which each answer is in a `size`-set with probability proportional to how often it
    keys the dataset (`counts`), so P(key = x | option set) is the same for every x of the set. Fitted by
    Chen, Dempster and Liu's (1994) fixed point w <- w * target / inclusion(w)."""
    c = np.asarray(counts, dtype=float)
    target, cap = size * c / c.sum(), 1 - 1e-6
    for _ in range(size):  # an answer keying over 1/size of rows is in (nearly) every set: it cannot hide
        high = target >= cap
        if not high.any():
            break
        target = np.where(high, cap, target * (size - cap * high.sum()) / target[~high].sum())
    w = c / c.sum()
    for _ in range(200):
        inclusion = _inclusion(w, size)
        if np.allclose(inclusion, target, rtol=1e-9, atol=1e-12):
            break
        w = w * target / inclusion
        w /= w.sum()
    return tuple(w)


def _draw_set(population: list[int], weights: np.ndarray, size: int, rng: random.Random) -> list[int]:
    """A conditional Poisson `size`-set, one member at a time: a uniformly chosen member of the set is x
    with probability inclusion(x) / size, and the rest is again such a set among the others. O(population)."""
    pool, w, drawn = list(population), weights, []
    for left in range(size, 0, -1):
        pick = rng.choices(range(len(pool)), weights=_inclusion(w, left).tolist())[0]
        drawn.append(pool.pop(pick))
        w = np.delete(w, pick)
    return drawn


class _Sampler:
    """Conditional Poisson (size - 1)-sets of the answers other than a truth, with the weights calibrated for
    `size`-sets, fitted once. Hajek's rejective draw (members drawn with replacement in proportion to their
    weights, a draw repeating one or holding the truth thrown away) gives that design exactly in
    O(size log answers); where weights are too skewed for it to succeed soon, the O(answers) draw above does."""

    def __init__(self, counts: list[int], size: int) -> None:
        # When every answer is in every set there is nothing to weigh.
        self.weights = np.asarray(_calibrated_weights(tuple(counts), size) if size < len(counts) else [1.0] * size)
        self.cum_weights = np.cumsum(self.weights).tolist()
        self.k = size - 1

    def __call__(self, truth: int | None, rng: random.Random) -> list[int]:
        """Positions of the set's members; `truth` (a position, or None when the truth is no answer) is left out."""
        everyone = range(len(self.cum_weights))
        for _ in range(REJECTIVE_TRIES):
            drawn = rng.choices(everyone, cum_weights=self.cum_weights, k=self.k)
            if len(set(drawn)) == self.k and truth not in drawn:
                return drawn
        others = [i for i in everyone if i != truth]
        return _draw_set(others, self.weights[others], self.k, rng)


class AnswerCounts(Mapping[str, int]):
    """How many rows each answer of a dataset keys (answers compared in normal form, first spelling kept),
    with what drawing distractors needs: a fixed order, each answer's place, a sampler per option count.
    Built once per dataset, so an item's options cost the same in a pool of any size."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        merged: dict[str, int] = {}
        spelling: dict[str, str] = {}
        for answer, n in counts.items():
            key = spelling.setdefault(norm(answer), answer)
            merged[key] = merged.get(key, 0) + n
        self.labels = sorted(merged, key=norm)
        self._counts = merged
        self._place = {norm(x): i for i, x in enumerate(self.labels)}
        self._samplers: dict[int, _Sampler] = {}

    def __getitem__(self, answer: str) -> int:
        return self._counts[answer]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def others(self, truth: str, k: int, rng: random.Random) -> list[str]:
        """A conditional Poisson `k`-set of the answers other than `truth`, weighted for (k + 1)-option sets."""
        if k + 1 not in self._samplers:
            self._samplers[k + 1] = _Sampler([self._counts[x] for x in self.labels], k + 1)
        return [self.labels[i] for i in self._samplers[k + 1](self._place.get(norm(truth)), rng)]


def exchangeable_distractors(truth: str, counts: AnswerCounts, n: int, rng: random.Random) -> list[str]:
    """`n` distractors for `truth` from the answers of a dataset, drawn so the truth is exchangeable with
    them; no two options of the set are near-copies of each other."""
    size = min(n + 1, len(counts))
    for _ in range(MAX_DRAWS):  # a set holding near-copies is drawn again: the rule is the same for every member
        options = [truth, *counts.others(truth, size - 1, rng)]
        if all(similarity(a, b) < MAX_DISTRACTOR_SIMILARITY for i, a in enumerate(options) for b in options[i + 1:]):
            return options[1:]
    raise StepError(f"no {size} options that are not near-copies of each other in {len(counts)} answers")


def answer_counts(rows: list[Row], keep: Callable[[str], bool]) -> AnswerCounts:
    """How many rows each single answer keys, over the answers `keep` accepts."""
    return AnswerCounts(Counter(a for row in rows for a in row_answers(row)[:1] if keep(a)))
