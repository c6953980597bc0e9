"""Licence terms: what a source's licence asks of an item built from it, and the strictest licence of a
benchmark, which governs how the whole may be shared."""

from __future__ import annotations

# Strictness, lowest first: a benchmark is as restricted as its most restricted source.
_RANKS = (("non-commercial", ("-NC", "NON-COMMERCIAL", "NONCOMMERCIAL")),
          ("share-alike", ("-SA", "SHARE-ALIKE", "SHAREALIKE")),
          ("unknown", ()))


def licence_terms(licence: str | None) -> str | None:
    """What a licence asks of an item built from it, beyond attribution."""
    text = (licence or "").upper()
    if any(m in text for m in _RANKS[0][1]):
        return "non-commercial use only"
    if any(m in text for m in _RANKS[1][1]):
        return "share-alike: the item must be shared under the same licence"
    return None


def _rank(licence: str | None) -> int:
    if not licence:
        return 2  # unknown: nobody can say it is free to share
    text = licence.upper()
    return next((3 - i for i, (_, marks) in enumerate(_RANKS[:2]) if any(m in text for m in marks)), 0)


def strictest(licences: list[str | None]) -> str | None:
    """The most restrictive of the licences (non-commercial > share-alike > unknown > others); None for none."""
    if not licences:
        return None
    worst = max(licences, key=_rank)
    return worst or "unknown"
