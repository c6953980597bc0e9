"""Card search: BM25 over light-stemmed tokens of everything a card says, fused with the cosine
similarity of multilingual-e5-small embeddings (tools/pool/embed.py) when that model is available.

Fusion (mode "hybrid"): score = W_LEX * lex + W_SEM * sem, both parts in [0, 1]:
- lex = BM25 normalised per query by the query's own ideal score, the BM25 a card of average length
  holding each query term once would get (the sum of the terms' idf, a term no card has counting at
  the idf of a term seen nowhere), capped at 1. It reads as "the idf-weighted share of the query the
  card says". Dividing by the best card's BM25 instead would hand the full lexical weight to
  whichever card shares one stray word with an off-topic query.
- sem = the cosine rescaled linearly from COS_ZERO (0) to COS_FULL (1), clipped.

Why these weights: the cosine covers paraphrases and other languages, so it gets the larger share;
the lexical part keeps exact words (dataset names, label values such as "Toyota") deciding between
cards the model finds equally close (causal vs document-level causal reasoning). A card matched by
words alone tops out at W_LEX = 0.4.

Why a weighted sum and not reciprocal-rank fusion: the grounding agent reads scores as an alignment
signal (score / best score, then a threshold). RRF keeps only ranks, so with 60 as its constant the
tenth card still scores 0.87 of the first and "how well does it fit" is lost; a weighted sum of
normalised scores keeps the gaps. Why rescale the cosine: E5 cosines sit in a narrow band (about
0.72 to 0.92 for anything English), so a raw cosine in the sum would add a near-constant and make every
card look 80 % aligned. COS_ZERO is where the model's cosine stops carrying information on card
texts (unrelated queries land just below it, see scripts/bench_search.py); it is a fusion
constant, not an alignment floor: a hit's raw `cosine` is kept on every Hit so that a floor can be
set on it separately.

Which cards come back: BM25 returns cards sharing a word with the query; hybrid also returns cards
with no shared word whose cosine passes COS_ZERO (paraphrases, other languages). If the model is
missing or fails its checks, hybrid falls back to BM25 and `fallback` holds the reason.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from state.models import DatasetCard
from tools.pool import embed
from tools.text import tokens

K1, B = 1.2, 0.75
LABEL_SAMPLE = 30
STOPWORDS = frozenset(
    "a an and are as at be by for from how in is it of on or that the this to what which with".split()
)
Mode = Literal["bm25", "hybrid"]
MODES = ("bm25", "hybrid")
W_LEX, W_SEM = 0.4, 0.6
COS_ZERO, COS_FULL = 0.82, 0.90
PASSAGE_EXAMPLES = 2  # example questions per text field that go into the embedded passage
QUERY_CACHE = 256
# Card passages per engine call: 16 keeps its transient memory near +25 MB (64 at once: +95 MB) for
# about the same throughput on two cores.
EMBED_BATCH = 16

log = logging.getLogger(__name__)


def _terms(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


def card_text(card: DatasetCard) -> str:
    parts = [card.name, card.task, card.task_type, card.skill, *card.domain, card.description, card.source or ""]
    parts += [f.path for f in card.fields]
    parts += list(card.roles)
    parts += (card.label_space or [])[:LABEL_SAMPLE]
    return " ".join(parts)


def _words(name: str) -> str:
    """'car_brands_recognition' / 'ArtImageVisualQA' -> 'car brands recognition' / 'Art Image Visual QA'."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    return " ".join(re.split(r"[_\-\s]+", name)).strip()


_TEXT_ROLES = ("instruction", "question", "premise", "hypothesis", "context", "dialogue")


def passage_text(card: DatasetCard) -> str:
    """What the embedding model reads for a card: what the dataset is about, in words (names split,
    no field paths or URLs, which only add noise to a sentence embedding), its labels and a couple
    of example inputs, so that content words the metadata never says still count."""
    seen: set[str] = set()
    parts: list[str] = []

    def add(text: str) -> None:
        text = " ".join(text.split()).rstrip(" .")
        if text and text.lower() not in seen:
            seen.add(text.lower())
            parts.append(text)

    for piece in (_words(card.name), _words(card.task), card.task_type, card.skill, ", ".join(card.domain)):
        add(piece)
    add(card.description)
    inputs = [m for m in card.modalities_in if m != "text"]
    if inputs:
        add("Inputs: " + ", ".join(["text", *inputs]))
    if card.label_space:
        add("Answers: " + ", ".join(card.label_space[:LABEL_SAMPLE]))
    role_of = {f.path: f.role for f in card.fields}
    for f in card.fields:
        if role_of.get(f.path) in _TEXT_ROLES:
            for example in f.examples[:PASSAGE_EXAMPLES]:
                add(f"Example {f.role}: {example}")
    return ". ".join(parts) + "."


def _key(card: DatasetCard, text: str) -> str:
    """Card fingerprint (the data behind the card) plus a digest of the passage (how it is read)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{card.fingerprint or 'nofp'}-{digest}"


def default_mode() -> Mode:
    mode = os.environ.get("BENCHAGENT_SEARCH", "hybrid").strip().lower()
    return mode if mode in MODES else "hybrid"  # type: ignore[return-value]


@dataclass(frozen=True)
class Hit:
    """One search result with the parts of its score."""

    card: DatasetCard
    score: float  # what search() returns: raw BM25 in mode bm25, the fused score in [0, 1] in hybrid
    bm25: float
    cosine: float | None  # raw cosine of query and card passage; None when no embedding was used
    mode: Mode


class CardIndex:
    """BM25 index over a fixed list of cards, with card embeddings computed on the first hybrid search."""

    def __init__(self, cards: list[DatasetCard], cache_dir: Path | None = None) -> None:
        """cache_dir: the card cache folder; card vectors are kept on disk in its `embeddings/`."""
        self.cards = cards
        self.docs = [Counter(_terms(card_text(c))) for c in cards]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        df = Counter(t for d in self.docs for t in d)
        n = len(cards)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.vectors = embed.VectorCache(cache_dir / "embeddings" if cache_dir else None)
        self.fallback: str | None = None  # why hybrid requests run as BM25 here; None while the model works
        self.embedded = 0  # card passages this index sent to the model (the rest came from the cache)
        self._matrix: np.ndarray | None = None
        self._queries: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # -- lexical
    def _bm25(self, terms: list[str], i: int) -> float:
        doc, length, score = self.docs[i], self.lengths[i], 0.0
        for t in terms:
            tf = doc.get(t, 0)
            if tf:
                score += self.idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / self.avg))
        return score

    def ideal(self, query: str) -> float:
        """The BM25 that reads as "the card says all of the query" (see the module's docstring)."""
        return self._ideal(_terms(query))

    def _ideal(self, terms: list[str]) -> float:
        """BM25 of an average-length card holding each term once: sum of idf (tf=1, length=avg)."""
        unseen = math.log(1 + (len(self.cards) + 0.5) / 0.5)
        return sum(self.idf.get(t, unseen) for t in terms)

    # -- semantic
    def _card_matrix(self, model: embed.Embedder) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                texts = [passage_text(c) for c in self.cards]
                keys = [_key(c, t) for c, t in zip(self.cards, texts)]
                todo = [i for i, k in enumerate(keys) if self.vectors.get(k) is None]
                for start in range(0, len(todo), EMBED_BATCH):  # batches bound the engine's working memory
                    chunk = todo[start:start + EMBED_BATCH]
                    for i, vec in zip(chunk, model.passages([texts[i] for i in chunk])):
                        self.vectors.put(keys[i], vec)
                    self.embedded += len(chunk)
                self._matrix = np.stack([self.vectors.get(k) for k in keys]) if keys else np.zeros((0, embed.DIM))
            return self._matrix

    def _query_vector(self, model: embed.Embedder, query: str) -> np.ndarray:
        with self._lock:
            vec = self._queries.get(query)
            if vec is None:
                vec = model.query(query)
                if len(self._queries) >= QUERY_CACHE:
                    self._queries.pop(next(iter(self._queries)))
                self._queries[query] = vec
            return vec

    def _cosines(self, query: str) -> np.ndarray | None:
        """Cosine of the query with every card, or None (and `fallback` set) when no model is usable.
        A failure sticks for this index: a model that failed its checks is not retried per search."""
        if self.fallback is not None:
            return None
        try:
            model = embed.get_embedder()
            return self._card_matrix(model) @ self._query_vector(model, query)
        except embed.EmbeddingUnavailable as exc:
            log.warning("card search falls back to BM25: %s", exc)
            self.fallback = str(exc)
            return None

    def similarity(self, query: str, card: DatasetCard | str) -> float | None:
        """Raw cosine of query and card (about 0.7 unrelated .. 0.9 close), or None without a model."""
        cid = card if isinstance(card, str) else card.id
        idx = next((i for i, c in enumerate(self.cards) if c.id == cid), None)
        if idx is None or not query.strip():
            return None
        cos = self._cosines(query)
        return None if cos is None else round(float(cos[idx]), 6)

    # -- ranking
    def hits(self, query: str, modality: str | None = None, k: int = 10, mode: Mode | None = None) -> list[Hit]:
        mode = mode or default_mode()
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        terms = _terms(query)
        allowed = [i for i, c in enumerate(self.cards) if not modality or modality in c.modalities_in]
        lex = {i: self._bm25(terms, i) for i in allowed}
        cos = None
        if mode == "hybrid" and query.strip():
            cos = self._cosines(query)  # None: the model is unusable, `fallback` says why; rank by BM25
        out = []
        if cos is None:
            for i in allowed:
                if lex[i] > 0:
                    out.append(Hit(self.cards[i], round(lex[i], 6), round(lex[i], 6), None, "bm25"))
        else:
            ideal = self._ideal(terms)
            for i in allowed:
                c = float(cos[i])
                sem = min(max((c - COS_ZERO) / (COS_FULL - COS_ZERO), 0.0), 1.0)
                score = W_LEX * (min(lex[i] / ideal, 1.0) if ideal else 0.0) + W_SEM * sem
                if score > 0:
                    out.append(Hit(self.cards[i], round(score, 6), round(lex[i], 6), round(c, 6), "hybrid"))
        out.sort(key=lambda h: (-h.score, h.card.id))
        return out[:k]

    def search(
        self, query: str, modality: str | None = None, k: int = 10, mode: Mode | None = None
    ) -> list[tuple[DatasetCard, float]]:
        return [(h.card, h.score) for h in self.hits(query, modality, k, mode)]

