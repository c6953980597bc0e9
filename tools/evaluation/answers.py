"""A model's reply as an answer: the option letter it means, or its free-text answer; None when unreadable.

Rules for multiple choice, first match wins: the reply is a letter ("B", "(B)", "B."), it says
"answer is B" / "Answer: B", it starts with a lettered option ("B. circle"), it is or contains exactly one
option's text, or it holds exactly one standalone capital letter among the options'. Anything else is
unparseable, counted wrong and listed, never guessed.
"""

from __future__ import annotations

import re

from tools.text import LETTERS, norm

_MARKUP = re.compile(r"[*_`#]+")
_ALONE = re.compile(r"^\(?([A-J])\)?[.):]?$")
_SAYS = re.compile(r"(?i:\b(?:answer|option|choice)\b(?:\s+is)?)\s*[:\-]?\s*\(?([A-J])\)?(?![\w'])")
_LEADS = re.compile(r"^\(?([A-J])[.):]\s")
_CAPITAL = re.compile(r"(?<![\w'])([A-J])(?![\w'])")
_PREAMBLE = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.I)


def parse_choice(reply: str, choices: list[str]) -> str | None:
    """The letter the reply picks among `choices`, or None."""
    text = _MARKUP.sub("", reply).strip()
    allowed = LETTERS[:len(choices)]
    for rx in (_ALONE, _SAYS, _LEADS):
        found = rx.search(text)
        if found and found.group(1) in allowed:
            return found.group(1)
    said = norm(_PREAMBLE.sub("", text))
    named = [i for i, c in enumerate(choices) if norm(c) == said]
    if not named:
        named = [i for i, c in enumerate(choices)
                 if norm(c) and re.search(rf"(?<!\w){re.escape(norm(c))}(?!\w)", said)]
    if len(named) == 1:
        return allowed[named[0]]
    letters = {m for m in _CAPITAL.findall(text) if m in allowed}
    return letters.pop() if len(letters) == 1 else None


def parse_free(reply: str) -> str | None:
    """The answer text of an open reply, its "The answer is" preamble dropped; None when empty."""
    text = _PREAMBLE.sub("", _MARKUP.sub("", reply).strip()).strip()
    return text or None


def parse(reply: str, choices: list[str] | None) -> str | None:
    """A letter for a multiple-choice item, the answer text for an open one; None when unparseable."""
    return parse_choice(reply, choices) if choices else parse_free(reply)


def is_correct(parsed: str | None, item: dict) -> bool:
    """Letters match exactly; open answers match the answer or answer text, compared normalised."""
    if parsed is None:
        return False
    if item.get("choices"):
        return parsed == item["answer"].strip().upper()
    return norm(parsed) in {norm(item["answer"]), norm(item.get("answer_text", item["answer"]))}
