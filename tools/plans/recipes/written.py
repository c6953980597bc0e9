"""Recipes whose items an LLM writes (tools.written): cross-turn questions over a spoken dialogue,
faulty-step localisation, reliability across accounts of one event, new questions over a passage, and
written distractors for open answers. Their checks re-verify deterministically what the LLM claimed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from state.models import Check, Item, Row, Step
from tools.plans.recipes.core import Recipe, question_step
from tools.pool import Pool
from tools.text import norm
from tools.written.prompts import sentences


def _param(item: Item, step: str, name: str, default: Any) -> Any:
    return next((s.params.get(name, default) for s in item.plan.steps if s.tool == step), default)


def _among(item: Item) -> Check:
    choices = [norm(c) for c in item.choices or []]
    return Check(name="answer_among_choices", passed=norm(item.answer_text) in choices,
                 detail=f"{item.answer_text!r} among {len(choices)} choices")


def _evidence(item: Item, units: int) -> Check:
    """The turns or sentences the answer is said to need exist, and are as many as the plan asks."""
    cited = item.metadata.get("evidence") or []
    least = _param(item, "written_question", "min_evidence", 1)
    ok = all(isinstance(n, int) and 1 <= n <= units for n in cited) and len(set(cited)) >= least
    return Check(name="evidence_exists", passed=ok,
                 detail=f"cites {item.metadata.get('evidence_unit', 'unit')}s {cited} of {units}; needs {least}+")


def _dialogue_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    turns = item.metadata.get("turns") or []  # as rendered: what the listener hears
    asked = set(item.metadata.get("languages") or ["en"])
    spoken = {t.get("lang", "en") for t in item.metadata.get("script") or []}
    return [_among(item), _evidence(item, len(turns)),
            Check(name="languages_spoken", passed=spoken == asked, detail=f"{sorted(spoken)} for {sorted(asked)}")]


def _faulty_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    clean, faulty = item.metadata.get("clean_steps") or [], item.metadata.get("faulty_steps") or []
    k = item.metadata.get("fault_step")
    in_range = isinstance(k, int) and 1 <= k <= len(faulty) == len(clean)
    changed = [n for n, (a, b) in enumerate(zip(clean, faulty), 1) if norm(a) != norm(b)]
    return [_among(item),
            Check(name="fault_in_range", passed=in_range, detail=f"step {k} of {len(faulty)}"),
            Check(name="one_step_changed", passed=in_range and changed == [k],
                  detail=f"steps {changed} differ from the clean solution; the answer says step {k}"),
            Check(name="answer_is_fault", passed=item.answer_text == f"Step {k}" and len(item.choices or []) ==
                  len(faulty), detail=item.answer_text)]


def _accounts_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    accounts, k = item.metadata.get("accounts") or [], item.metadata.get("unreliable")
    ok = isinstance(k, int) and 1 <= k <= len(accounts) == len(item.choices or [])
    return [_among(item), Check(name="unreliable_in_range", passed=ok and item.choices[k - 1] == item.answer_text,
                                detail=f"account {k} of {len(accounts)}")]


def _passage_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    context = row.values.get("context")
    return [_among(item), _evidence(item, len(sentences(context)) if isinstance(context, str) else 0)]


def _distractor_checks(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    accepted = {norm(a) for a in item.metadata.get("accepted_answers") or [item.answer_text]}
    wrong = [c for c in item.choices or [] if norm(c) != norm(item.answer_text)]
    clash = [c for c in wrong if norm(c) in accepted]
    return [_among(item), Check(name="distractors_not_answers", passed=not clash, detail=f"{clash} are answers")]


def _dialogue_steps(card: object) -> list[Step]:
    return [Step(tool="script_dialogue"), Step(tool="dialogue_audio"),
            Step(tool="written_question", params={"min_evidence": 2})]


_DIALOGUE_WORDS = ("cross", "turn", "integration", "integrate", "combine", "conversation", "dialogue",
                   "dialog", "spoken", "listen", "speech", "speaker", "mixed", "language", "languages", "bilingual",
                   "multilingual")

def _dialogue_recipe(recipe_id: str, title: str, description: str, role: str, preservation: float) -> Recipe:
    """A spoken cross-turn recipe: the same steps and checks whether the script comes from a dialogue or a passage."""
    return Recipe(id=recipe_id, title=title, description=description, modality="audio", keywords=_DIALOGUE_WORDS,
                  roles=(role,), answer_kinds=(), steps=_dialogue_steps, checks=_dialogue_checks,
                  preservation=lambda card: preservation, skill_in_steps=True, needs_llm=True)


RECIPES: list[Recipe] = [
    _dialogue_recipe(
        "dialogue-crossturn-audio", "Cross-turn information integration in spoken dialogue",
        "A source dialogue (re-staged by the LLM in the languages asked, each fact in its own turn) is rendered as "
        "speech with a voice per speaker; the LLM writes a multiple-choice question whose answer needs two or more "
        "turns. Settings: languages (e.g. ['en', 'es'] for a mixed-language conversation).", "dialogue", 0.8),
    _dialogue_recipe(
        "passage-dialogue-audio", "Cross-turn information integration in a dialogue written from a passage",
        "The LLM stages the facts of a passage as a dialogue, each fact in its own turn and in the languages "
        "asked; it is rendered as speech and asked about with a question needing two or more turns.", "context",
        0.75),
    Recipe(
        id="faulty-step-localisation",
        title="Faulty step localisation",
        description="From a problem with a known answer, the LLM writes a step-by-step solution that reaches it "
        "with exactly one wrong step; the item asks which step is wrong (options Step 1..Step n).",
        modality="text",
        keywords=("faulty", "fault", "step", "steps", "error", "mistake", "wrong", "localisation", "localization",
                  "locate", "proof", "solution", "derivation", "bug", "debug", "verification", "process"),
        roles=("question", "answer"),
        answer_kinds=("letter", "label", "text", "list"),
        steps=lambda card: [Step(tool="faulty_solution")],
        checks=_faulty_checks,
        preservation=lambda card: 0.8,
        skill_in_steps=True,
        needs_llm=True,
    ),
    Recipe(
        id="account-reliability",
        title="Reliability assessment across narratives",
        description="The LLM retells the event of a passage as several accounts from different viewpoints, one "
        "of them biased and wrong on a key fact; the item asks which account is unreliable.",
        modality="text",
        keywords=("bias", "biased", "reliability", "reliable", "unreliable", "narrative", "narratives", "account",
                  "accounts", "viewpoint", "perspective", "witness", "testimony", "contradiction", "contradict",
                  "consistency", "credibility", "misinformation"),
        roles=("context",),
        answer_kinds=(),
        steps=lambda card: [Step(tool="written_accounts")],
        checks=_accounts_checks,
        preservation=lambda card: 0.75,
        skill_in_steps=True,
        needs_llm=True,
    ),
    Recipe(
        id="passage-written-mcq",
        title="New questions over a passage",
        description="The LLM writes a new multiple-choice question, with its distractors, over a passage, and "
        "names the sentences its answer needs.",
        modality="text",
        keywords=("reading", "comprehension", "passage", "document", "context", "story", "article", "new",
                  "written", "generated", "synthetic", "question"),
        roles=("context",),
        answer_kinds=(),
        steps=lambda card: [Step(tool="written_question")],
        checks=_passage_checks,
        preservation=lambda card: 0.8,
        needs_llm=True,
    ),
    Recipe(
        id="open-qa-written-mcq",
        title="Open questions as multiple choice with written distractors",
        description="A question with a free-text answer keeps its answer; the LLM writes the wrong options, "
        "none of them another answer the source accepts.",
        modality="text",
        keywords=("distractor", "distractors", "written", "multiple", "choice", "open", "answer", "question",
                  "temporal", "causal", "why"),
        roles=("question", "answer"),
        answer_kinds=("text", "list"),
        steps=lambda card: [question_step(""), Step(tool="open_answer"), Step(tool="written_distractors")],
        checks=_distractor_checks,
        skill_in_steps=True,  # the multiple-choice form is written; the data need only be about the topic
        preservation=lambda card: 0.85,
        needs_llm=True,
    ),
]
