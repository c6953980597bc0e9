"""Steps that write an item's question, choices and answer from a row's text."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from tools.plans.distractors import AnswerCounts, answer_counts, exchangeable_distractors
from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers, row_text
from tools.pool import Pool
from tools.text import LETTERS, norm

NLI_LABELS = ("entailment", "neutral", "contradiction")
_NLI_ALIASES = {"entail": "entailment", "entails": "entailment", "contradict": "contradiction",
                "contradicts": "contradiction"}


def nli_label(text: object) -> str:
    """A source's entailment label in canonical form ("entails" -> "entailment"); other text as `norm` gives it."""
    label = norm(text)
    return _NLI_ALIASES.get(label, label)


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


@lru_cache(maxsize=32)
def _answers(pool: Pool, dataset: str, space: frozenset[str] | None) -> AnswerCounts:
    """The dataset's answers (those in `space`, or all), counted and indexed once per pool: an item's draw
    then costs the same whatever the dataset's size."""
    return answer_counts(pool.rows(dataset), lambda a: space is None or norm(a) in space)


def _choose(draft: Draft, env: StepEnv, step: str, truth: str, counts: AnswerCounts, n_options: int,
            note: str) -> None:
    """The key and its exchangeable distractors, shuffled (seeded per item and repair), onto the draft."""
    rng = env.rng(f"{step}:{draft.metadata.get('repair', 0)}")
    choices = [truth, *exchangeable_distractors(truth, counts, n_options - 1, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, truth
    draft.metadata["distractors"] = note


class LabelChoiceParams(BaseModel):
    n_options: int = 4


@register("label_choices", LabelChoiceParams, version="3")
def label_choices(draft: Draft, env: StepEnv, p: LabelChoiceParams) -> list[Path]:
    """Multiple choice from a class label, distractors drawn from the label space so the key is exchangeable
    with them (see tools.plans.distractors)."""
    answers = row_answers(env.row)
    space = frozenset(norm(x) for x in env.card.label_space or [])
    if len(answers) != 1:
        raise StepError("row has no single class label")
    label = answers[0]
    counts = _answers(env.pool, env.card.id, space)
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


@register("response_choices", ResponseChoiceParams, version="3")
def response_choices(draft: Draft, env: StepEnv, p: ResponseChoiceParams) -> list[Path]:
    """Next-response multiple choice; distractors are replies from other dialogues of the dataset, drawn so
    the true reply is exchangeable with them: neither its length, nor its words, nor how central it is
    tells it apart. A near-copy of another option is never drawn, since it would make the item ambiguous."""
    answers = row_answers(env.row)
    if len(answers) != 1:
        raise StepError("row has no single next response")
    truth = answers[0]
    counts = _answers(env.pool, env.card.id, None)
    if len(counts) < p.n_options:
        raise StepError(f"{env.card.id} has too few other responses for distractors")
    _choose(draft, env, "response_choices", truth, counts, p.n_options,
            "replies from other dialogues, weighted by frequency so the key is exchangeable")
    return []
