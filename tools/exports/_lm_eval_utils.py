"""lm-evaluation-harness hooks for a Benchmark Agent export; copied into the export as utils.py.

lm-eval resolves `data_files` against the working directory, not the YAML file, so the data is loaded
here, relative to this file: the folder works from anywhere with `--include_path`."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
from scipy.io import wavfile

HERE = Path(__file__).resolve().parent
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def load(data_file: str, **_: object) -> datasets.DatasetDict:
    """The subtask's parquet file as a "test" split; audio kept as wav bytes (decoded by doc_to_audio)."""
    ds = datasets.load_dataset("parquet", data_files={"test": str(HERE / data_file)})
    return ds.cast_column("audio", datasets.Sequence(datasets.Audio(decode=False)))


def doc_to_text(doc: dict) -> str:
    # <image> and <audio> are the placeholders lm-eval's multimodal models replace with their own tokens.
    media = "".join("<image>\n" for _ in doc["image"]) + "".join("<audio>\n" for _ in doc["audio"])
    options = "".join(f"{LETTERS[i]}. {c}\n" for i, c in enumerate(doc["choices"] or []))
    return f"{media}{doc['question']}\n{options}Answer:"


def doc_to_choice(doc: dict) -> list[str]:
    return list(LETTERS[: len(doc["choices"])])


def doc_to_target(doc: dict) -> int:
    return LETTERS.index(doc["answer"])


def doc_to_image(doc: dict) -> list:
    return doc["image"]


def doc_to_audio(doc: dict) -> list[dict]:
    """Each clip as {"array", "sampling_rate"}, the form lm-eval's audio models read."""
    clips = []
    for clip in doc["audio"]:
        rate, samples = wavfile.read(io.BytesIO(clip["bytes"]))
        scale = float(2 ** (8 * samples.dtype.itemsize - 1)) if samples.dtype.kind == "i" else 1.0
        clips.append({"array": samples.astype("float32") / scale, "sampling_rate": rate})
    return clips
