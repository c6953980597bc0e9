"""Question writing over a passage or a dialogue script, and distractor writing for a known answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from tools.registry import Ask, Workspace, tool
from tools.written.dialogue import Turn
from tools.written.prompts import MAX_SOURCE, WrittenParams, check_options, messages, numbered, require, sentences


class WriteQuestionParams(WrittenParams):
    context: str = Field("", max_length=MAX_SOURCE, description="A passage to ask about; its sentences are numbered.")
    turns: list[Turn] = Field(default_factory=list, max_length=50, description="A dialogue script to ask about; "
                              "its turns are numbered.")
    skill: str = Field("", max_length=300, description="What the question must test.")
    min_evidence: int = Field(1, ge=1, le=5, description="Distinct turns (or sentences) the answer must need.")
    n_distractors: int = Field(3, ge=0, le=9, description="Wrong options to write; 0 for an open question.")
    background: list[str] = Field(default_factory=list, max_length=5, description="Web snippets to draw on.")

    @model_validator(mode="after")
    def _one_source(self) -> WriteQuestionParams:
        if bool(self.context.strip()) == bool(self.turns):
            raise ValueError("give either a context or dialogue turns")
        return self


class WrittenQuestion(BaseModel):
    question: str
    answer: str
    distractors: list[str]
    evidence: list[int] = Field(description="Numbers of the turns or sentences the answer needs.")


def _turn_line(turn: Turn) -> str:
    return f"{turn.speaker or 'a speaker'} [{turn.lang}]: {turn.text}"


@tool("write_question", WriteQuestionParams,
      "Write a question over a passage or a dialogue script, its answer, optional distractors, and the numbers "
      "of the turns or sentences the answer needs.", llm=True)
def write_question(p: WriteQuestionParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    unit = "turn" if p.turns else "sentence"
    units = [_turn_line(t) for t in p.turns] if p.turns else sentences(p.context)
    task = ("Write one question about the numbered text below, answerable only from it, with a short answer"
            + (f" and {p.n_distractors} plausible but wrong options" if p.n_distractors else " and no distractors")
            + f". The answer must need information from at least {p.min_evidence} different {unit}s; list "
            f"their numbers as evidence." + (f" The question tests: {p.skill}." if p.skill else "")
            + (" The speakers are not named: do not ask who said what." if p.turns and None in
               {t.speaker for t in p.turns} else ""))
    data = {f"{unit.title()}s": numbered(units, unit.title()), "Background": "\n".join(p.background)}
    out = ask(messages(task, data, p.feedback), WrittenQuestion)
    require(bool(out.question.strip()) and bool(out.answer.strip()), "the question or its answer is empty")
    check_options(out.answer, out.distractors, p.n_distractors)
    evidence = sorted(set(out.evidence))
    outside = [n for n in evidence if not 1 <= n <= len(units)]
    require(not outside, f"the evidence names {unit}s {outside}, but the text has {len(units)}")
    require(len(evidence) >= p.min_evidence,
            f"the answer needs {len(evidence)} {unit}(s); it must need at least {p.min_evidence}")
    return [], {"question": out.question.strip(), "answer": out.answer.strip(),
                "distractors": [d.strip() for d in out.distractors], "evidence": evidence, "unit": unit,
                "units": len(units)}


class WriteDistractorsParams(WrittenParams):
    question: str = Field(min_length=1, max_length=MAX_SOURCE)
    answer: str = Field(min_length=1, max_length=2000)
    context: str = Field("", max_length=MAX_SOURCE)
    n: int = Field(3, ge=1, le=9)
    avoid: list[str] = Field(default_factory=list, max_length=20, description="Options that exist already.")


class Distractors(BaseModel):
    distractors: list[str]


@tool("write_distractors", WriteDistractorsParams,
      "Write wrong but plausible options for a question whose answer is known, distinct from the answer, from "
      "each other and from options that exist already.", llm=True)
def write_distractors(p: WriteDistractorsParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    task = (f"Write {p.n} wrong options for the question below. Each must be plausible to someone who did not "
            "read carefully, clearly wrong given the answer, of the same kind and about the same length as the "
            "answer, and different from the options already given.")
    data = {"Context": p.context, "Question": p.question, "Answer": p.answer,
            "Options already given": "\n".join(p.avoid)}
    out = ask(messages(task, data, p.feedback), Distractors)
    check_options(p.answer, out.distractors, p.n, p.avoid)
    return [], {"distractors": [d.strip() for d in out.distractors]}
