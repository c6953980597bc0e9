"""Steps that write an item's question, choices and answer from a row's text."""

from __future__ import annotations

import random
from pathlib import Path

from pydantic import BaseModel

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


def _confusable(truth: str, others: list[str], n: int, candidates: int, rng: random.Random) -> list[str]:
    """`n` distractors drawn (seeded) from the `candidates` options that look most like `truth`."""
    ranked = sorted(others, key=lambda x: (-similarity(truth, x), x))
    return rng.sample(ranked[: max(candidates, n)], min(n, len(ranked)))



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


class LabelChoiceParams(BaseModel):
    n_options: int = 4
    candidates: int = 8


@register("label_choices", LabelChoiceParams)
def label_choices(draft: Draft, env: StepEnv, p: LabelChoiceParams) -> list[Path]:
    """Multiple choice from a class label, distractors drawn from the most confusable labels."""
    answers = row_answers(env.row)
    space = env.card.label_space or []
    if len(answers) != 1:
        raise StepError("row has no single class label")
    label = answers[0]
    others = [x for x in space if norm(x) != norm(label)]
    if not others:
        raise StepError(f"label space of {env.card.id} is too small for distractors")
    rng = env.rng(f"label_choices:{draft.metadata.get('repair', 0)}")
    choices = [label, *_confusable(label, others, p.n_options - 1, p.candidates, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, label
    draft.metadata["distractors"] = "label space, ranked by confusability"
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
    candidates: int = 12


@register("response_choices", ResponseChoiceParams)
def response_choices(draft: Draft, env: StepEnv, p: ResponseChoiceParams) -> list[Path]:
    """Next-response multiple choice; distractors are the replies from other dialogues of the dataset
    that look most like the true one, so surface cues do not give the answer away."""
    answers = row_answers(env.row)
    if len(answers) != 1:
        raise StepError("row has no single next response")
    truth = answers[0]
    others = sorted({a for r in env.pool.rows(env.card.id) if r.sample_id != env.row.sample_id
                     for a in row_answers(r)[:1] if norm(a) != norm(truth)})
    # A reply nearly identical to the true one would make the item ambiguous.
    others = [o for o in others if similarity(truth, o) < MAX_DISTRACTOR_SIMILARITY]
    if len(others) < p.n_options - 1:
        raise StepError(f"{env.card.id} has too few other responses for distractors")
    rng = env.rng(f"response_choices:{draft.metadata.get('repair', 0)}")
    choices = [truth, *_confusable(truth, others, p.n_options - 1, p.candidates, rng)]
    rng.shuffle(choices)
    draft.choices, draft.answer_text = choices, truth
    draft.metadata["distractors"] = "replies from other dialogues, ranked by closeness to the true reply"
    return []
