"""Dialogue synthesis: speakers with roles, one or several languages, and the facts a question will need
stated in turns of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from tools.registry import Ask, Workspace, tool
from tools.written.prompts import MAX_SOURCE, LangCode, WrittenParams, messages, require


class Speaker(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str = Field("", max_length=120, description="Who they are in the scene, e.g. 'the customer'.")


class Turn(BaseModel):
    speaker: str | None = Field(None, max_length=64, description="Who speaks; null when the source does not say.")
    text: str = Field(min_length=1, max_length=2000)
    lang: LangCode = "en"


class SynthesiseDialogueParams(WrittenParams):
    context: str = Field("", max_length=MAX_SOURCE, description="Source text the dialogue is about (a passage, "
                         "or a dialogue to re-stage).")
    facts: list[str] = Field(default_factory=list, max_length=10, description="Facts the dialogue must carry, "
                             "each in a turn of its own; empty: the model picks them from the context.")
    speakers: list[Speaker] = Field(default_factory=list, max_length=6, description="Cast; empty: the model "
                                    "casts two or three speakers.")
    languages: list[LangCode] = Field(default_factory=lambda: ["en"], min_length=1, max_length=4,
                                      description="Languages the turns are in; with several, every one is used.")
    max_turns: int = Field(8, ge=2, le=20)

    @model_validator(mode="after")
    def _has_source(self) -> SynthesiseDialogueParams:
        if not self.context.strip() and not self.facts:
            raise ValueError("give a context or facts for the dialogue to carry")
        return self


class WrittenTurn(BaseModel):
    speaker: str
    text: str
    lang: str


class WrittenDialogue(BaseModel):
    speakers: list[Speaker]
    facts: list[str] = Field(description="The facts the dialogue carries.")
    turns: list[WrittenTurn]
    fact_turns: list[int] = Field(description="For each fact, the number (from 1) of the turn that states it.")


@tool("synthesise_dialogue", SynthesiseDialogueParams,
      "Write a dialogue between speakers with roles that carries given facts (or facts from a context), each "
      "fact in its own turn, in one or several languages (every turn tagged with its language).", llm=True)
def synthesise_dialogue(p: SynthesiseDialogueParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    cast = "; ".join(f"{s.name} ({s.role})" if s.role else s.name for s in p.speakers)
    langs = ", ".join(p.languages)
    task = (f"Write a natural conversation of at most {p.max_turns} turns"
            + (f" between {cast}" if cast else " between two or three named speakers; give each a role")
            + f". Write the turns in these languages: {langs}"
            + (" (switch language between turns so that every one of them is used)" if len(p.languages) > 1 else "")
            + "; tag each turn with its language code. "
            + ("State each of the facts below in a different turn. " if p.facts else
               "Pick two to four concrete facts from the source and state each in a different turn. ")
            + "List the facts, and for each fact the number (from 1) of the turn that states it.")
    out = ask(messages(task, {"Facts": "\n".join(f"- {f}" for f in p.facts), "Source": p.context}, p.feedback),
              WrittenDialogue)
    names = {s.name for s in p.speakers} or {s.name for s in out.speakers}
    require(2 <= len(out.turns) <= p.max_turns, f"the dialogue has {len(out.turns)} turns; 2 to {p.max_turns} "
            "were asked for")
    strangers = sorted({t.speaker for t in out.turns} - names)
    require(not strangers, f"turns are spoken by {strangers}, who are not in the cast {sorted(names)}")
    require(len({t.speaker for t in out.turns}) >= 2, "only one speaker talks")
    require(all(t.text.strip() for t in out.turns), "a turn is empty")
    used = {t.lang for t in out.turns}
    require(used <= set(p.languages), f"turns are in {sorted(used - set(p.languages))}, not asked for")
    require(used == set(p.languages), f"no turn is in {sorted(set(p.languages) - used)}")
    require(len(out.facts) == len(p.facts) if p.facts else len(out.facts) >= 2,
            f"the dialogue lists {len(out.facts)} facts; {len(p.facts) or 'at least 2'} were asked for")
    require(len(out.fact_turns) == len(out.facts), f"{len(out.fact_turns)} fact turns for {len(out.facts)} facts")
    require(all(1 <= n <= len(out.turns) for n in out.fact_turns),
            f"fact turns {out.fact_turns} name turns the dialogue ({len(out.turns)} turns) does not have")
    require(len(set(out.fact_turns)) == len(out.fact_turns), f"facts share turns {out.fact_turns}; each needs its own")
    speakers = p.speakers or [s for s in out.speakers if s.name in {t.speaker for t in out.turns}]
    return [], {"turns": [t.model_dump() for t in out.turns], "speakers": [s.model_dump() for s in speakers],
                "facts": out.facts, "fact_turns": out.fact_turns}
