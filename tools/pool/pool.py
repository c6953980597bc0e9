"""The dataset pool: discovers datasets, serves their cards and normalised rows, searches cards."""

from __future__ import annotations

from pathlib import Path

from state.models import DatasetCard, Row
from tools.pool import cards, folder, general_bench
from tools.pool.discover import discover
from tools.pool.media import resolve_all
from tools.pool.search import CardIndex
from tools.pool.source import Loaded, PoolError, Source, UnreadableDataset
from tools.safety import UnsafeInputError, confine

DEMO_POOL = Path(__file__).resolve().parents[1] / "demo_pool"
_HINT = "pass --pool PATH to a folder of datasets or General-Bench layout"


class Pool:
    """Read-only view of a pool root; cards are cached on disk, rows in memory."""

    def __init__(self, root: Path | str, cache_dir: Path | None = None) -> None:
        path = Path(root).expanduser()
        if not path.exists():
            raise PoolError(f"pool {path} does not exist; {_HINT}")
        if not path.is_dir():
            raise PoolError(f"pool {path} is not a folder; {_HINT}")
        self.root = path.resolve()
        cache = (cache_dir or cards.default_cache_dir()).expanduser().resolve()
        if cache.is_relative_to(self.root):
            raise PoolError(f"card cache {cache} lies inside pool {self.root}; pass a cache_dir outside the pool")
        self._cache = cards.CardCache(cache)
        sources, self.problems = discover(self.root)
        self._sources: dict[str, Source] = {}
        self._cards: dict[str, DatasetCard] = {}
        self._rows: dict[str, list[Row]] = {}
        self._by_sample: dict[str, dict[str, Row]] = {}
        self._index: CardIndex | None = None
        for src in sources:
            try:
                self._cards[src.id] = self._card_for(src)
                self._sources[src.id] = src
            except (UnreadableDataset, UnsafeInputError, OSError) as exc:
                self.problems.append(f"{src.id} ({src.data_file}): {exc}")
        if not self._cards:
            if self.problems:
                raise PoolError(
                    f"no dataset in pool {self.root} could be read: " + "; ".join(self.problems)
                    + "; fix or remove these files"
                )
            raise PoolError(
                f"pool {self.root} holds no datasets (no data.jsonl/data.csv/data.parquet folder and no "
                f"annotation JSON with a 'data' list); {_HINT}"
            )

    def _card_for(self, src: Source) -> DatasetCard:
        for rel in (src.data_file, src.card_file):
            if rel:
                confine(self.root, rel)  # a data file symlinked out of the pool is not read
        fp = cards.fingerprint(self.root, src)
        card = self._cache.get(src, fp)
        if card is None:
            loaded = self._load(src)
            rows, outcomes = self._resolve(src, loaded)
            card = cards.build_card(src, loaded, rows, outcomes, fp)
            self._cache.put(card, src)
            self._rows[src.id] = rows
        return card

    def _load(self, src: Source) -> Loaded:
        reader = general_bench if src.layout == "general-bench" else folder
        return reader.load(self.root, src)

    def _resolve(self, src: Source, loaded: Loaded) -> tuple[list[Row], list[tuple[str, str]]]:
        rows, outcomes = [], []
        seen: set[str] = set()
        for k, rec in enumerate(loaded.records):
            media, problems, status = resolve_all(self.root, src.folder, rec.media)
            sample_id = rec.sample_id if rec.sample_id not in seen else f"{rec.sample_id}#{k}"  # ids must be unique
            seen.add(sample_id)
            rows.append(Row(dataset=src.id, sample_id=sample_id, values=rec.values, media=media,
                            problems=rec.problems + problems, raw=rec.raw))
            outcomes += status
        return rows, outcomes

    def cards(self) -> list[DatasetCard]:
        return [self._cards[i] for i in sorted(self._cards)]

    def card(self, dataset_id: str) -> DatasetCard:
        if dataset_id not in self._cards:
            raise PoolError(f"unknown dataset {dataset_id!r}; known datasets: {', '.join(sorted(self._cards))}")
        return self._cards[dataset_id]

    def rows(self, dataset_id: str) -> list[Row]:
        src = self._sources[self.card(dataset_id).id]
        if dataset_id not in self._rows:
            try:
                loaded = self._load(src)
            except (UnreadableDataset, OSError) as exc:  # changed on disk since its card was built
                raise PoolError(f"dataset {dataset_id} ({src.data_file}) can no longer be read: {exc}") from None
            self._rows[dataset_id] = self._resolve(src, loaded)[0]
        return list(self._rows[dataset_id])

    def row(self, dataset_id: str, sample_id: str) -> Row:
        if dataset_id not in self._by_sample:
            self._by_sample[dataset_id] = {r.sample_id: r for r in self.rows(dataset_id)}
        found = self._by_sample[dataset_id].get(sample_id)
        if found is None:
            some = ", ".join(list(self._by_sample[dataset_id])[:3])
            raise PoolError(f"dataset {dataset_id} has no sample {sample_id!r}; its sample ids look like {some}")
        return found

    def media_path(self, rel: str) -> Path:
        """Absolute path of a Row.media entry, re-confined since callers may pass any string."""
        return confine(self.root, rel)

    @property
    def search_index(self) -> CardIndex:
        """Built on first use; card vectors are cached in memory and beside the card cache."""
        if self._index is None:
            self._index = CardIndex(self.cards(), cache_dir=self._cache.directory)
        return self._index

    def search(
        self, query: str, modality: str | None = None, k: int = 10, mode: str | None = None
    ) -> list[tuple[DatasetCard, float]]:
        """Best cards for a query, best first, as (card, score). mode "hybrid" (the default, or
        BENCHAGENT_SEARCH) fuses BM25 and embedding cosine into a score in [0, 1]; "bm25" gives raw
        BM25. Without a usable model hybrid runs as BM25 and `search_fallback` says why."""
        return self.search_index.search(query, modality, k, mode)  # type: ignore[arg-type]

    def search_hits(self, query: str, modality: str | None = None, k: int = 10, mode: str | None = None):
        """Like search, with each hit's BM25 and raw cosine (tools.pool.search.Hit)."""
        return self.search_index.hits(query, modality, k, mode)  # type: ignore[arg-type]

    def similarity(self, query: str, dataset_id: str) -> float | None:
        """Raw cosine of query and a card's passage; None when no embedding model is usable."""
        return self.search_index.similarity(query, self.card(dataset_id))

    @property
    def search_fallback(self) -> str | None:
        """Why hybrid searches here run as BM25 (model missing, other version, sha256 mismatch), else None."""
        return self._index.fallback if self._index else None
