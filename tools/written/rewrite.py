"""Rewriting and translation of a text, keeping the strings it must keep (names, numbers, answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools.registry import Ask, Workspace, tool
from tools.text import norm
from tools.written.prompts import MAX_SOURCE, LangCode, WrittenParams, messages, require

_HOW = {"paraphrase": "Paraphrase the text: the same meaning in different words.",
        "simplify": "Rewrite the text in plain, simple language, keeping its meaning.",
        "formal": "Rewrite the text in a formal register, keeping its meaning.",
        "translate": "Translate the text into the language with code {lang}, keeping its meaning."}


class RewriteParams(WrittenParams):
    text: str = Field(min_length=1, max_length=MAX_SOURCE)
    mode: Literal["paraphrase", "simplify", "formal", "translate"] = "paraphrase"
    target_lang: LangCode | None = Field(None, description="For mode translate: the language to translate into.")
    keep: list[str] = Field(default_factory=list, max_length=20, description="Strings the result must contain "
                            "unchanged, e.g. names, numbers or an answer.")

    @model_validator(mode="after")
    def _translation_has_target(self) -> RewriteParams:
        if (self.mode == "translate") != (self.target_lang is not None):
            raise ValueError("target_lang is given exactly when mode is translate")
        return self


class Rewritten(BaseModel):
    text: str


@tool("rewrite_text", RewriteParams, "Paraphrase, simplify, formalise or translate a text, keeping the strings "
      "it is told to keep.", llm=True)
def rewrite_text(p: RewriteParams, ws: Workspace, ask: Ask) -> tuple[list[Path], dict[str, Any]]:
    task = _HOW[p.mode].format(lang=p.target_lang) + (
        " Keep these exactly as written: " + "; ".join(p.keep) + "." if p.keep else "")
    out = ask(messages(task, {"Text": p.text}, p.feedback), Rewritten)
    require(bool(out.text.strip()), "the rewrite is empty")
    require(norm(out.text) != norm(p.text), "the rewrite is the text unchanged")
    lost = [k for k in p.keep if k.casefold() not in out.text.casefold()]
    require(not lost, f"the rewrite lost {lost}")
    return [], {"text": out.text.strip(), "lang": p.target_lang}
