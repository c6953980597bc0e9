"""Lexical search over dataset cards: BM25 over light-stemmed tokens of everything a card says."""

from __future__ import annotations

import math
from collections import Counter

from state.models import DatasetCard
from tools.text import tokens

K1, B = 1.2, 0.75
LABEL_SAMPLE = 30
STOPWORDS = frozenset(
    "a an and are as at be by for from how in is it of on or that the this to what which with".split()
)


def _terms(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


def card_text(card: DatasetCard) -> str:
    parts = [card.name, card.task, card.task_type, card.skill, *card.domain, card.description, card.source or ""]
    parts += [f.path for f in card.fields]
    parts += list(card.roles)
    parts += (card.label_space or [])[:LABEL_SAMPLE]
    return " ".join(parts)


class CardIndex:
    """BM25 index over a fixed list of cards."""

    def __init__(self, cards: list[DatasetCard]) -> None:
        self.cards = cards
        self.docs = [Counter(_terms(card_text(c))) for c in cards]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        df = Counter(t for d in self.docs for t in d)
        n = len(cards)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, modality: str | None = None, k: int = 10) -> list[tuple[DatasetCard, float]]:
        terms = _terms(query)
        hits = []
        for card, doc, length in zip(self.cards, self.docs, self.lengths):
            if modality and modality not in card.modalities_in:
                continue
            score = 0.0
            for t in terms:
                tf = doc.get(t, 0)
                if tf:
                    score += self.idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / self.avg))
            if score > 0:
                hits.append((card, round(score, 6)))
        hits.sort(key=lambda h: (-h[1], h[0].id))
        return hits[:k]
