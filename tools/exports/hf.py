"""Hugging Face dataset folder: one parquet file per subtask (split "test", media embedded) and a card.

Written with pyarrow and the `datasets` feature metadata rather than with `datasets` itself: its Audio
feature will not even encode wav bytes without torch, and readers need nothing but `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from state.models import Item
from tools.exports.reading import Run, sources_table
from tools.run_store import safe_name

_STRING = {"dtype": "string", "_type": "Value"}
# The `datasets` features, in the Sequence form that datasets 2.x to 5.x all read.
FEATURES = {
    "id": _STRING, "subtask": _STRING, "question": _STRING,
    "choices": {"feature": _STRING, "_type": "Sequence"},
    "answer": _STRING, "answer_text": _STRING, "modality": _STRING,
    "image": {"feature": {"_type": "Image"}, "_type": "Sequence"},
    "audio": {"feature": {"_type": "Audio"}, "_type": "Sequence"},
    "source_dataset": _STRING, "source_id": _STRING, "license": _STRING,
}
_MEDIA = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema(
    [(name, pa.list_(_MEDIA) if name in ("image", "audio") else
      pa.list_(pa.string()) if name == "choices" else pa.string()) for name in FEATURES],
    metadata={"huggingface": json.dumps({"info": {"features": FEATURES}})},
)


def _row(run: Run, item: Item) -> dict:
    def media(paths: list[str]) -> list[dict]:
        return [{"bytes": run.media(p).read_bytes(), "path": Path(p).name} for p in paths]

    return {"id": item.id, "subtask": item.subtask, "question": item.question, "choices": item.choices,
            "answer": item.answer, "answer_text": item.answer_text, "modality": item.modality,
            "image": media(item.image), "audio": media(item.audio), "source_dataset": item.source.dataset,
            "source_id": item.source.sample_id, "license": item.source.license}


def data_files(run: Run) -> dict[str, str]:
    """Subtask -> parquet path relative to the export folder; distinct even where slugs collide."""
    return run.names(lambda subtask, n: f"data/{safe_name(subtask)}{f'-{n}' if n > 1 else ''}.parquet")


def write_parquet(run: Run, folder: Path) -> dict[str, str]:
    """One parquet file per subtask under `folder`; returns subtask -> relative path."""
    files = data_files(run)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for subtask, items in run.by_subtask().items():
        table = pa.Table.from_pylist([_row(run, item) for item in items], schema=SCHEMA)
        pq.write_table(table, folder / files[subtask])
    return files


def _default_config(subtasks: list[str]) -> str:
    name = "all"
    while name in subtasks:
        name = f"_{name}"
    return name


def _card(run: Run, files: dict[str, str]) -> str:
    counts = {s: len(items) for s, items in run.by_subtask().items()}
    configs = [{"config_name": _default_config(list(files)), "default": True,
                "data_files": [{"split": "test", "path": list(files.values())}]}]
    configs += [{"config_name": s, "data_files": [{"split": "test", "path": p}]} for s, p in files.items()]
    header = {"license": "other", "license_name": run.license or "unknown", "pretty_name": run.name,
              "size_categories": ["n<1K" if len(run.items) < 1000 else "1K<n<10K"], "configs": configs}
    subtasks = "\n".join(f"| `{s}` | {n} | `{files[s]}` |" for s, n in counts.items())
    return (f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---\n\n# {run.name}\n\n"
            f"{run.requirement}\n\nBuilt by Benchmark Agent. One config per subtask (split `test`); the default "
            f"config `{configs[0]['config_name']}` holds them all. Multiple-choice answers are letters (A = first "
            "choice); `answer_text` is the answer in words. Images and audio are embedded (`image` and `audio` are "
            "lists, empty for items without that medium).\n\n```python\nfrom datasets import load_dataset\n"
            f"ds = load_dataset(\"path/to/this/folder\", \"{next(iter(files))}\", split=\"test\")\n```\n\n"
            "Decoding the `audio` column needs `datasets[audio]` (torchcodec) on datasets 4 or later; "
            "`ds.cast_column(\"audio\", Sequence(Audio(decode=False)))` gives the wav bytes without it.\n\n"
            f"| subtask | items | file |\n|---|---|---|\n{subtasks}\n\n## Sources\n\n{sources_table(run)}")


def write(run: Run, folder: Path) -> None:
    files = write_parquet(run, folder)
    (folder / "README.md").write_text(_card(run, files), encoding="utf-8")
