"""Steps that write an item with the LLM tools (tools.written): a dialogue script, a new question over a
script or a passage, written distractors, a solution with one wrong step, accounts of one event.

Each passes the verifier's feedback for itself (env.feedback[step]) to its tool, so a repair asks a
different question; without feedback the prompt is the first one and the LLM cache replays it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers, row_text
from tools.plans.steps.text import NoParams, source_choices
from tools.written.prompts import LangCode, numbered

LISTEN = "Listen to the conversation."


def _written(draft: Draft, env: StepEnv, step: str, tool: str, params: dict[str, Any]) -> dict[str, Any]:
    """The LLM tool's values for this step, its feedback included only while the step is being repaired."""
    feedback = env.feedback.get(step, "")
    return env.call(draft, tool, {**params, **({"feedback": feedback} if feedback else {})}).values


def _shuffled(draft: Draft, env: StepEnv, step: str, answer: str, wrong: list[str]) -> None:
    """The answer among its distractors, in an order seeded per item and repair."""
    choices = [answer, *wrong]
    env.rng(f"{step}:{draft.metadata.get('repair', 0)}").shuffle(choices)
    draft.choices, draft.answer_text = choices, answer


class ScriptParams(BaseModel):
    languages: list[LangCode] = Field(default_factory=lambda: ["en"], min_length=1, max_length=4)
    max_turns: int = Field(8, ge=2, le=20)


@register("script_dialogue", ScriptParams)
def script_dialogue(draft: Draft, env: StepEnv, p: ScriptParams) -> list[Path]:
    """The dialogue later steps render and ask about: the row's own when only English is asked (no LLM call),
    else one the LLM writes from the row's dialogue or passage in the languages asked, each fact in a turn of
    its own. dialogue_audio renders the row's dialogue, so the row the later steps see carries this script."""
    source = env.row.values.get("dialogue")
    has_dialogue = isinstance(source, list) and len(source) >= 2
    if has_dialogue and p.languages == ["en"]:
        turns = [{"speaker": t.get("speaker"), "text": str(t.get("text", "")), "lang": "en"} for t in source]
    else:
        context = ("\n".join(f"{t.get('speaker') or 'Someone'}: {t.get('text', '')}" for t in source) if has_dialogue
                   else row_text(env.row, "context"))
        if not context:
            raise StepError("row has no dialogue or passage to script a dialogue from")
        values = _written(draft, env, "script_dialogue", "synthesise_dialogue",
                          {"context": context, "languages": p.languages, "max_turns": p.max_turns})
        turns = values["turns"]
        draft.metadata.update(speakers=values["speakers"], facts=values["facts"], fact_turns=values["fact_turns"])
    draft.metadata.update(script=turns, languages=p.languages)
    env.row = env.row.model_copy(update={"values": {**env.row.values, "dialogue": turns}})
    return []


class WrittenQuestionParams(BaseModel):
    n_options: int = Field(4, ge=2, le=10)
    min_evidence: int = Field(1, ge=1, le=5, description="Turns or sentences the answer must combine.")
    web_background: bool = Field(False, description="Search the web for background first; offline the item "
                                 "records that search was unavailable.")


@register("written_question", WrittenQuestionParams)
def written_question(draft: Draft, env: StepEnv, p: WrittenQuestionParams) -> list[Path]:
    """A new multiple-choice question over the scripted dialogue (script_dialogue) or else the row's passage,
    written with its distractors and the turns or sentences its answer needs."""
    script = draft.metadata.get("script")
    context = "" if script else row_text(env.row, "context")
    if not script and not context:
        raise StepError("row has no passage and no dialogue was scripted")
    source = {"turns": script} if script else {"context": context}
    skill = (f"combining information stated in {p.min_evidence} or more different "
             f"{'turns' if script else 'sentences'}" if p.min_evidence > 1 else "")
    background = _background(draft, env, context or " ".join(t["text"] for t in script)) if p.web_background else []
    values = _written(draft, env, "written_question", "write_question",
                      {**source, "skill": skill, "min_evidence": p.min_evidence, "n_distractors": p.n_options - 1,
                       "background": background})
    shown = LISTEN if draft.audio else context or "\n".join(f"{t['speaker'] or 'Someone'}: {t['text']}"
                                                            for t in script)
    draft.question = f"{shown}\n\n{values['question']}" if not draft.audio else f"{shown} {values['question']}"
    _shuffled(draft, env, "written_question", values["answer"], values["distractors"])
    draft.metadata.update(evidence=values["evidence"], evidence_unit=values["unit"])
    return []


def _background(draft: Draft, env: StepEnv, text: str) -> list[str]:
    """Web snippets about the text; offline, the item records that search was unavailable and why."""
    query = " ".join(text.split()[:30])
    try:
        results = env.call(draft, "web_search", {"query": query, "max_results": 3}).values["results"]
    except StepError as exc:
        draft.metadata["web_search"] = {"available": False, "reason": str(exc)}
        return []
    draft.metadata["web_search"] = {"available": True, "query": query, "results": len(results)}
    return [r["snippet"] for r in results if r["snippet"]]


class WrittenDistractorParams(BaseModel):
    n_options: int = Field(4, ge=2, le=10)


@register("written_distractors", WrittenDistractorParams)
def written_distractors(draft: Draft, env: StepEnv, p: WrittenDistractorParams) -> list[Path]:
    """After compose_question and open_answer: the source's own answer among distractors the LLM writes,
    none of them another answer the source accepts."""
    if not draft.question or not draft.answer_text:
        raise StepError("written_distractors needs a question and an answer first (compose_question, open_answer)")
    accepted = draft.metadata.get("accepted_answers", [draft.answer_text])
    values = _written(draft, env, "written_distractors", "write_distractors",
                      {"question": draft.question, "answer": draft.answer_text, "n": p.n_options - 1,
                       "avoid": [a for a in accepted if a != draft.answer_text]})
    _shuffled(draft, env, "written_distractors", draft.answer_text, values["distractors"])
    return []


class FaultyParams(BaseModel):
    kind: Literal["solution", "proof", "code"] = "solution"
    n_steps: int = Field(5, ge=2, le=10)


@register("faulty_solution", FaultyParams)
def faulty_solution(draft: Draft, env: StepEnv, p: FaultyParams) -> list[Path]:
    """The row's problem with a worked solution in which exactly one step is wrong; the item asks which. The
    wrong step is drawn per item, so the answer's position is uniform, and the solution must reach the
    source's answer, so only the injected step is wrong."""
    problem = row_text(env.row, "question")
    if not problem:
        raise StepError("row has no problem text")
    options = env.row.values.get("options")
    if isinstance(options, list) and options:
        probe = Draft()
        source_choices(probe, env, NoParams())  # the source's answer as option text, whatever form it takes
        answer = probe.answer_text
        problem += "\nOptions: " + "; ".join(map(str, options))
    else:
        answers = row_answers(env.row)
        if not answers:
            raise StepError("row has no known answer")
        answer = answers[0]
    fault_at = env.rng(f"faulty_solution:{draft.metadata.get('repair', 0)}").randint(1, p.n_steps)
    values = _written(draft, env, "faulty_solution", "inject_fault",
                      {"problem": problem, "answer": answer, "kind": p.kind, "n_steps": p.n_steps,
                       "fault_at": fault_at})
    steps = values["faulty_steps"]
    draft.question = (f"{problem}\n\nA {p.kind} to check:\n{numbered(steps, 'Step')}\n\n"
                      f"Exactly one step of this {p.kind} is wrong. Which step is it?")
    draft.choices = [f"Step {k}" for k in range(1, len(steps) + 1)]
    draft.answer_text = f"Step {values['fault_step']}"
    draft.metadata.update(clean_steps=values["clean_steps"], faulty_steps=steps, fault_step=values["fault_step"],
                          fault=values["fault"], source_answer=answer)
    return []


class AccountsParams(BaseModel):
    n_accounts: int = Field(3, ge=2, le=6)


@register("written_accounts", AccountsParams)
def written_accounts(draft: Draft, env: StepEnv, p: AccountsParams) -> list[Path]:
    """Accounts of the event the row's passage tells, one unreliable; the item asks which one contradicts
    what the others agree on. The accounts are shuffled per item, so the answer's position is uniform."""
    passage = row_text(env.row, "context")
    if not passage:
        raise StepError("row has no passage telling an event")
    values = _written(draft, env, "written_accounts", "build_accounts",
                      {"passage": passage, "n_accounts": p.n_accounts})
    order = list(range(len(values["accounts"])))
    env.rng(f"written_accounts:{draft.metadata.get('repair', 0)}").shuffle(order)
    accounts = [values["accounts"][k] for k in order]
    labels = [f"Account {n} ({a['narrator']})" for n, a in enumerate(accounts, 1)]
    told = "\n\n".join(f"{label}: {a['text']}" for label, a in zip(labels, accounts))
    draft.question = (f"Several people describe the same event.\n\n{told}\n\n"
                      "Which account is unreliable: it contradicts what the others agree happened?")
    draft.choices = labels
    draft.answer_text = labels[order.index(values["unreliable"] - 1)]
    draft.metadata.update(accounts=accounts, unreliable=order.index(values["unreliable"] - 1) + 1,
                          contradiction=values["contradiction"], event=values["event"])
    return []
