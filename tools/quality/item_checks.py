"""Checks every item goes through, whatever built it: it names only media it carries, its source is
well-formed, its gold answer is the source's (re-read from the raw record), and it repeats no item.

The answer check must not share code with the steps that built the item: it reads the raw record at
the field path the card gives for the answer, so a step that mislabels an item is caught.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from state.models import Check, DatasetCard, Item, Row
from tools.pool.roles import normalise_options, split_options
from tools.pool.source import field_at, json_list
from tools.text import LETTERS, norm

# Words that claim an image or a recording; the same family the independent audit scans for.
_MEDIA_WORDS = {
    "image": re.compile(r"\b(images?|pictures?|photos?|photographs?|diagrams?|figures?|charts?|maps?|shown|depicted|"
                        r"pictured|screenshots?)\b", re.I),
    "audio": re.compile(r"\b(audio|recordings?|listen|hear|heard|spoken|speaker says|clips?)\b", re.I),
}
# An option written as a raw record: a bracketed run of numbers, e.g. ["trading", 564, 7, "x"].
_RAW_TUPLE = re.compile(r"[\[(][^\])]*\d+\s*,\s*\d+[^\])]*[\])]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_OPTION_CHARS = 300
MIN_STEM_WORDS = 3


def mentioned_media(text: str) -> set[str]:
    """The media kinds a text claims to refer to."""
    return {kind for kind, words in _MEDIA_WORDS.items() if words.search(text)}


def media_references(item: Item) -> Check:
    """The question and options may refer only to media the item carries."""
    carried = {kind for kind in ("image", "audio") if getattr(item, kind)}
    texts = [item.question, *(item.choices or [])]
    missing = sorted(set().union(*(mentioned_media(t) for t in texts)) - carried)
    return Check(name="media_referenced_present", passed=not missing,
                 detail=f"mentions {', '.join(missing)} but carries none" if missing else "")


def readable_option(option: str) -> str | None:
    """Why an option is not human-readable text, or None when it is."""
    if _CONTROL.search(option):
        return "holds control characters"
    if len(option) > MAX_OPTION_CHARS:
        return f"is {len(option)} characters long"
    if _RAW_TUPLE.search(option):
        return "is a raw record (bracketed numbers)"
    if not re.search(r"\w", option):
        return "has no letters or digits"
    return None


def well_formed(item: Item) -> list[Check]:
    """A question stem, readable options, no control characters anywhere."""
    stem = item.question.strip()
    bad_text = next((t for t in [item.question, item.answer_text] if _CONTROL.search(t)), None)
    checks = [Check(name="question", passed=len(stem.split()) >= MIN_STEM_WORDS, detail=stem[:80]),
              Check(name="no_control_characters", passed=bad_text is None,
                    detail="" if bad_text is None else f"in {bad_text[:40]!r}")]
    if item.choices is not None:
        problems = [f"option {LETTERS[i] if i < len(LETTERS) else i} {why}" for i, c in enumerate(item.choices)
                    if (why := readable_option(c))]
        checks.append(Check(name="options_readable", passed=not problems, detail="; ".join(problems)[:200]))
    return checks


def source_answers(row: Row, card: DatasetCard) -> set[str] | None:
    """The gold answers as the raw record states them, normalised; None when the card names no answer
    field or the record does not hold one. A letter is resolved against the raw options."""
    path = card.roles.get("answer")
    if not path or not row.raw:
        return None
    value = json_list(field_at(row.raw, path))
    answers = [a for a in (value if isinstance(value, list) else [value]) if a is not None and str(a).strip()]
    if not answers:
        return None
    options: list[str] = []
    if "options" in card.roles:
        raw_options = field_at(row.raw, card.roles["options"])
        if card.roles["options"] == card.roles.get("question") and isinstance(raw_options, str):
            split = split_options(raw_options)
            options = split[1] if split else []
        else:
            options = normalise_options(raw_options) or []
    out = set()
    for answer in answers:
        text = str(answer).strip()
        if options and len(text) == 1 and text.upper() in LETTERS[: len(options)]:
            text = str(options[LETTERS.index(text.upper())])
        out.add(norm(text))
    return out


def fingerprint(item: Item, media: list[str]) -> str:
    """What makes two items the same: question, options and answer in canonical form, and what their
    media show (`media`: one identity per file, e.g. the source image's digest or the script spoken),
    so the same default question over two different images stays two items."""
    digest = hashlib.sha256()
    for part in [norm(re.sub(r"\W+", " ", item.question)), *sorted(norm(c) for c in item.choices or []),
                 norm(item.answer_text), *media]:
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()[:24]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else f"missing:{path.name}"
