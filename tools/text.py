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
    """Lowercase word stems: camelCase and snake_case split, plurals dropped, cut to 7 letters so
    that recognising/recognition or compressed/compression meet."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower())]


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word[:7]


_STOP_STEMS = frozenset(_stem(w) for w in _STOP)


def content_words(text: str) -> list[str]:
    """Tokens minus stop words, order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for tok in tokens(text):
        if tok not in _STOP_STEMS and len(tok) > 1:
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
