"""Steps that write an item's question, choices and answer from a row's text."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from state.models import Row
from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers, row_text
from tools.text import LETTERS, norm, similarity

NLI_LABELS = ("entailment", "neutral", "contradiction")
_NLI_ALIASES = {"entail": "entailment", "entails": "entailment", "contradict": "contradiction",
                "contradicts": "contradiction"}


def nli_label(text: object) -> str:
    """A source's entailment label in canonical form ("entails" -> "entailment"); other text as `norm` gives it."""
    label = norm(text)
    return _NLI_ALIASES.get(label, label)


MAX_DISTRACTOR_SIMILARITY = 0.8
MAX_DRAWS = 100

# Distractors are drawn so that the truth is exchangeable with them: given the option set, every option
# is equally likely to be the key. Drawing the truth's nearest neighbours made it the set's centre (a
# solver picking the option most like the others scored 68% on car logos); drawing the other options from
# the dataset's answers by conditional Poisson sampling (P(set) proportional to the product of its
# members' weights), with weights fitted so that each answer's share of option sets matches its share of
# keys, leaves option-only solvers (most central, longest, most frequent answer, ...) at chance.


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


@lru_cache(maxsize=64)
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


def _draw_set(population: list[str], weights: np.ndarray, size: int, rng: random.Random) -> list[str]:
    """A conditional Poisson `size`-set, one member at a time: a uniformly chosen member of the set is x
    with probability inclusion(x) / size, and the rest is again such a set among the others."""
    pool, w, drawn = list(population), weights, []
    for left in range(size, 0, -1):
        pick = rng.choices(range(len(pool)), weights=_inclusion(w, left).tolist())[0]
        drawn.append(pool.pop(pick))
        w = np.delete(w, pick)
    return drawn


def _exchangeable_distractors(truth: str, counts: dict[str, int], n: int, rng: random.Random) -> list[str]:
    """`n` distractors for `truth` from the answers of a dataset (answer -> how many rows it keys), drawn so
    the truth is exchangeable with them; no two options of the set are near-copies of each other."""
    labels = sorted(counts, key=norm)
    size = min(n + 1, len(labels))
    # When every answer is in every set there is nothing to weigh.
    weights = _calibrated_weights(tuple(counts[x] for x in labels), size) if size < len(labels) else [1.0] * size
    others = [(x, w) for x, w in zip(labels, weights) if norm(x) != norm(truth)]
    population, odds = [x for x, _ in others], np.array([w for _, w in others])
    for _ in range(MAX_DRAWS):  # a set holding near-copies is drawn again: the rule is the same for every member
        options = [truth, *_draw_set(population, odds, size - 1, rng)]
        if all(similarity(a, b) < MAX_DISTRACTOR_SIMILARITY for i, a in enumerate(options) for b in options[i + 1:]):
            return options[1:]
    raise StepError(f"no {size} options that are not near-copies of each other in {len(labels)} answers")


def _answer_counts(rows: list[Row], keep: Callable[[str], bool]) -> dict[str, int]:
    """How many rows each single answer keys (answers compared in normal form, first spelling kept)."""
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for row in rows:
        for answer in row_answers(row)[:1]:
            if keep(answer):
                key = spelling.setdefault(norm(answer), answer)
                counts[key] = counts.get(key, 0) + 1
    return counts


class PromptParams(BaseModel):
    default_question: str = ""
    include_context: bool = True


@register("compose_question", PromptParams)
def compose_question(draft: Draft, env: StepEnv, p: PromptParams) -> list[Path]:
    """Question text from the row (question, else instruction, else the plan's default) plus context."""
    question = row_text(env.row, "question") or row_text(env.row, "instruction") or p.default_question
    if not question:
        raise StepError("row has no question text and the plan gives no default question")
    context = row_text(env.row, "context") if p.include_context else ""
    draft.question = f"{context}\n\n{question}" if context and context not in question else question
    return []


def _choose(draft: Draft, env: StepEnv, step: str, truth: str, counts: dict[str, int], n_options: int,
            note: str) -> None:
    """The key and its exchangeable distractors, shuffled (seeded per item and repair), onto the draft."""
    rng = env.rng(f"{step}:{draft.metadata.get('repair', 0)}")
    choices = [truth, *_exchangeable_distractors(truth, counts, n_options - 1, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, truth
    draft.metadata["distractors"] = note


class LabelChoiceParams(BaseModel):
    n_options: int = 4


@register("label_choices", LabelChoiceParams, version="2")
def label_choices(draft: Draft, env: StepEnv, p: LabelChoiceParams) -> list[Path]:
    """Multiple choice from a class label, distractors drawn from the label space so the key is exchangeable
    with them (see `_exchangeable_distractors`)."""
    answers = row_answers(env.row)
    space = {norm(x) for x in env.card.label_space or []}
    if len(answers) != 1:
        raise StepError("row has no single class label")
    label = answers[0]
    counts = _answer_counts(env.pool.rows(env.card.id), lambda a: norm(a) in space)
    if len(counts) < 2:
        raise StepError(f"label space of {env.card.id} is too small for distractors")
    _choose(draft, env, "label_choices", label, counts, p.n_options,
            "label space, weighted by label frequency so the key is exchangeable")
    return []


class NoParams(BaseModel):
    pass


@register("source_choices", NoParams)
def source_choices(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Keep the source's own options; map a letter or text answer onto them."""
    options = env.row.values.get("options")
    answers = row_answers(env.row)
    if not isinstance(options, list) or len(options) < 2 or not answers:
        raise StepError("row lacks options or an answer")
    options = [str(o).strip() for o in options]
    answer = answers[0]
    if len(answer) == 1 and answer.upper() in LETTERS[: len(options)]:
        text = options[LETTERS.index(answer.upper())]
    else:
        matches = [o for o in options if norm(o) == norm(answer)]
        if not matches:
            raise StepError(f"answer {answer!r} is not among the options")
        text = matches[0]
    draft.choices, draft.answer_text = options, text
    return []


@register("entailment_choices", NoParams)
def entailment_choices(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Premise and hypothesis become a three-way entailment question."""
    premise, hypothesis = row_text(env.row, "premise"), row_text(env.row, "hypothesis")
    answers = row_answers(env.row)
    if not premise or not hypothesis or len(answers) != 1:
        raise StepError("row lacks a premise, a hypothesis or a single label")
    label = nli_label(answers[0])
    if label not in NLI_LABELS:
        raise StepError(f"label {answers[0]!r} is not one of {', '.join(NLI_LABELS)}")
    draft.question = (
        f"Premise: {premise}\nHypothesis: {hypothesis}\n"
        "What is the relationship between the premise and the hypothesis?"
    )
    draft.choices, draft.answer_text = list(NLI_LABELS), label
    return []


@register("open_answer", NoParams)
def open_answer(draft: Draft, env: StepEnv, p: NoParams) -> list[Path]:
    """Free-text answer; every acceptable answer the source gives is kept for scoring."""
    answers = row_answers(env.row)
    if not answers:
        raise StepError("row has no text answer")
    draft.choices, draft.answer_text = None, answers[0]
    draft.metadata["accepted_answers"] = answers
    return []


class ResponseChoiceParams(BaseModel):
    n_options: int = 4


@register("response_choices", ResponseChoiceParams, version="2")
def response_choices(draft: Draft, env: StepEnv, p: ResponseChoiceParams) -> list[Path]:
    """Next-response multiple choice; distractors are replies from other dialogues of the dataset, drawn so
    the true reply is exchangeable with them: neither its length, nor its words, nor how central it is
    tells it apart. A near-copy of another option is never drawn, since it would make the item ambiguous."""
    answers = row_answers(env.row)
    if len(answers) != 1:
        raise StepError("row has no single next response")
    truth = answers[0]
    counts = _answer_counts(env.pool.rows(env.card.id), lambda a: True)
    if len(counts) < p.n_options:
        raise StepError(f"{env.card.id} has too few other responses for distractors")
    _choose(draft, env, "response_choices", truth, counts, p.n_options,
            "replies from other dialogues, weighted by frequency so the key is exchangeable")
    return []
