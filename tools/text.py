"""Small text helpers shared by recipes, search and the offline deciders."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

LETTERS = "ABCDEFGHIJ"

_STOP = frozenset(
    "a an the and or of to in on for with from by at as is are be can could should would will whether "
    "that this these those it its their them they model models evaluate evaluating test testing tests "
    "benchmark benchmarks build measure assess ability able how well do does into about which what".split()
)


def tokens(text: str) -> list[str]:
    """Lowercase word tokens with camelCase and snake_case split and a light plural stem."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    out = []
    for tok in re.split(r"[^A-Za-z0-9]+", text.lower()):
        if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
            tok = tok[:-1]
        if tok:
            out.append(tok)
    return out


def content_words(text: str) -> list[str]:
    """Tokens minus stop words, order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for tok in tokens(text):
        if tok not in _STOP and len(tok) > 1:
            seen.setdefault(tok, None)
    return list(seen)


def norm(text: object) -> str:
    """Canonical form for comparing answers and options."""
    return re.sub(r"\s+", " ", str(text)).strip().strip(".").casefold()


def similarity(a: str, b: str) -> float:
    """How confusable two labels look: character overlap plus shared tokens."""
    ta, tb = set(tokens(a)), set(tokens(b))
    jaccard = len(ta & tb) / len(ta | tb) if ta | tb else 0.0
    return 0.5 * SequenceMatcher(None, norm(a), norm(b)).ratio() + 0.5 * jaccard
