"""Role vocabulary and the text surgery both layouts share: options hidden in question text,
premise/hypothesis packed in one string, dialogues in their many shapes, answers of any type."""

from __future__ import annotations

import ast
import re
from typing import Any

from tools.pool.source import load_json

# Column-name synonyms per role, in priority order; the first unused matching column wins, so a
# `prompt` column becomes the question only when there is no `question`, else the instruction.
ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "uid", "qid"),
    "question": ("question", "query", "prompt"),
    "options": ("options", "choices", "candidates"),
    "answer": ("answer", "label", "target", "output", "response", "category"),
    "context": ("context", "passage", "text"),
    "premise": ("premise",),
    "hypothesis": ("hypothesis",),
    "dialogue": ("dialogue", "dialog", "turns", "conversation"),
    "instruction": ("instruction", "prompt"),
    "image": ("image", "image_path", "img", "image_file"),
    "audio": ("audio", "audio_path", "audio_file"),
}
ROLES = tuple(ROLE_SYNONYMS)
TEXT_ROLES = ("question", "context", "premise", "hypothesis", "instruction")
MEDIA_ROLES = ("image", "audio")


def infer_roles(columns: list[str]) -> dict[str, str]:
    """Map roles to columns by name alone."""
    norm = {c: re.sub(r"[\s-]+", "_", c.strip().lower()) for c in columns}
    roles: dict[str, str] = {}
    used: set[str] = set()
    for role, names in ROLE_SYNONYMS.items():
        for name in names:
            col = next((c for c in columns if norm[c] == name and c not in used), None)
            if col is not None:
                roles[role] = col
                used.add(col)
                break
    return roles


def text(value: Any) -> str | None:
    """A text role's value, or None when empty. Scalars become strings; structures are not text."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    out = str(value).strip()
    return out or None


def clean_answer(value: Any) -> Any:
    """Keep the answer's shape (letter, text, list of acceptable answers, structure) minus blanks."""
    if isinstance(value, (list, tuple)):
        items = [clean_answer(v) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    if isinstance(value, dict):
        return value or None
    return text(value)


_CHOICES_LIST = re.compile(
    r"\s*(?:the\s+)?(?:candidate\s+)?(?:choices|options)\s+are\s*:?\s*(\[.*\])\s*\.?\s*$", re.I | re.S
)
_LETTERED = re.compile(r"^[ \t]*\(?([A-Z])[.)][ \t]+(\S.*?)\s*$")
_CHOOSE_LINE = re.compile(
    r"^\s*(?:please\s+)?(?:choose|select|pick|answer with)\s+(?:one of\s+)?[A-Z](?:\s*,\s*[A-Z])*"
    r"(?:\s*,?\s*or\s+[A-Z])?\s*\.?\s*$",
    re.I,
)
_MAX_LITERAL = 20_000  # literal_eval is safe but not free; option lists are short


def split_options(question: str) -> tuple[str, list[str]] | None:
    """Pull options out of question text: "The candidate choices are [...]." or lettered lines."""
    m = _CHOICES_LIST.search(question)
    if m and len(m.group(1)) <= _MAX_LITERAL:
        try:
            parsed = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, list) and len(parsed) >= 2 and all(isinstance(o, (str, int, float)) for o in parsed):
            return question[: m.start()].rstrip(), [str(o).strip() for o in parsed]
    return _split_lettered(question)


def _split_lettered(question: str) -> tuple[str, list[str]] | None:
    """Take the last run of consecutive lines "A. ...", "B. ..." (two or more, starting at A)."""
    lines = question.split("\n")
    best: tuple[int, int] | None = None
    i = 0
    while i < len(lines):
        m = _LETTERED.match(lines[i])
        if m and m.group(1) == "A":
            j = i + 1
            while j < len(lines) and (n := _LETTERED.match(lines[j])) and ord(n.group(1)) == ord("A") + j - i:
                j += 1
            if j - i >= 2:
                best = (i, j)
            i = j
        else:
            i += 1
    if best is None:
        return None
    start, end = best
    options = [_LETTERED.match(line).group(2) for line in lines[start:end]]  # type: ignore[union-attr]
    rest = [line for k, line in enumerate(lines) if not (start <= k < end) and not _CHOOSE_LINE.match(line)]
    stem = re.sub(r"\n{3,}", "\n\n", "\n".join(rest)).strip()
    return stem, options


def normalise_options(value: Any) -> list[str] | None:
    """Options as a list of strings, from a list, a {letter: text} dict, JSON text or lettered lines."""
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                value = load_json(s)
            except ValueError:
                return None
        else:
            split = _split_lettered(s)
            if split:
                return split[1]
            parts = s.split("|") if "|" in s else s.split("\n")
            value = [p for p in parts if p.strip()]
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value)]
    if not isinstance(value, (list, tuple)):
        return None
    options = [t for o in value if (t := text(o)) is not None]
    # "A. Paris", "B. Rome": the letters are presentation, recipes assign their own
    if options and all(re.match(rf"^\(?{chr(65 + k)}[.)]\s+\S", o) for k, o in enumerate(options)):
        options = [re.sub(r"^\(?[A-Z][.)]\s+", "", o) for o in options]
    return options if len(options) >= 2 else None


_NLI = re.compile(r"^\s*premise\s*:\s*(?P<p>.+?)\s*\n\s*hypothesis\s*:\s*(?P<h>.+?)\s*$", re.I | re.S)


def split_nli(raw: str) -> tuple[str, str] | None:
    """'Premise: ...\\nHypothesis: ...' -> (premise, hypothesis)."""
    m = _NLI.match(raw)
    return (m.group("p"), m.group("h")) if m else None


_TURN = re.compile(r"^\s*([A-Za-z][\w.' -]{0,30}?)\s*:\s+(\S.*)$")
_SPEAKER_KEYS = ("speaker", "role", "name", "from")
_TEXT_KEYS = ("text", "content", "utterance", "value")


def normalise_dialogue(value: Any) -> list[dict[str, str | None]] | None:
    """Turns as [{"speaker", "text"}], speakers as the source names them.

    When the source does not name the speaker of every turn, every speaker is None (unattributed):
    guessing by alternation would misattribute consecutive turns by one person, and one named turn
    among unnamed ones says nothing about who speaks the rest."""
    turns = _dialogue_turns(value)
    if turns and any(t["speaker"] is None for t in turns):
        return [{"speaker": None, "text": t["text"]} for t in turns]
    return turns


def _dialogue_turns(value: Any) -> list[dict[str, str | None]] | None:
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                return _dialogue_turns(load_json(s))
            except ValueError:
                pass
        return _dialogue_from_lines([line for line in s.split("\n") if line.strip()])
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if all(isinstance(t, dict) for t in value):
        turns = []
        for t in value:
            speaker = next((text(t[key]) for key in _SPEAKER_KEYS if text(t.get(key))), None)
            said = next((text(t[key]) for key in _TEXT_KEYS if text(t.get(key))), None)
            if said:
                turns.append({"speaker": speaker, "text": said})
        return turns or None
    strings = [t for v in value if (t := text(v))]
    named = [_TURN.match(t) for t in strings]
    if strings and all(m and len(m.group(1).split()) <= 3 for m in named):
        return [{"speaker": m.group(1).strip(), "text": m.group(2).strip()} for m in named if m]
    return [{"speaker": None, "text": t} for t in strings] or None


def _dialogue_from_lines(lines: list[str]) -> list[dict[str, str | None]] | None:
    if not any(_TURN.match(line) for line in lines):
        return [{"speaker": None, "text": line.strip()} for line in lines] or None
    turns: list[dict[str, str | None]] = []
    for line in lines:
        m = _TURN.match(line)
        if m and len(m.group(1).split()) <= 3:
            turns.append({"speaker": m.group(1).strip(), "text": m.group(2).strip()})
        elif turns:  # a wrapped line continues the previous turn
            turns[-1]["text"] = f"{turns[-1]['text']} {line.strip()}"
        else:
            turns.append({"speaker": None, "text": line.strip()})
    return turns
