"""Inspect (inspect_ai) dataset: dataset.jsonl of samples whose input is one user message (text, then
images and audio, paths relative to the file), the media copied beside it, and task.py
(tools/exports/_inspect_task.py) defining the Task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from state.models import Item
from tools.exports.reading import Run, item_sources, sources_table

TASK = Path(__file__).with_name("_inspect_task.py")


def _sample(run: Run, item: Item, folder: Path) -> dict:
    content: list[dict] = [{"type": "text", "text": item.question}]
    for kind, paths in (("image", item.image), ("audio", item.audio)):
        for rel in paths:
            source = run.media(rel)
            target = folder / "media" / source.name
            if not target.exists():
                shutil.copyfile(source, target)
            entry = {"type": kind, kind: f"media/{source.name}"}
            if kind == "audio":
                entry["format"] = source.suffix.lstrip(".").lower()
            content.append(entry)
    sources = [s.model_dump() for s in item_sources(item)]
    return {"id": item.id, "input": [{"role": "user", "content": content}], "choices": item.choices,
            "target": item.answer if item.choices else item.answer_text,
            "metadata": {"subtask": item.subtask, "modality": item.modality, "answer_text": item.answer_text,
                         "source": sources[0], "sources": sources, "license": item.source.license}}


def write(run: Run, folder: Path) -> None:
    (folder / "media").mkdir(parents=True)
    with open(folder / "dataset.jsonl", "w", encoding="utf-8") as fh:
        for item in run.items:
            sample = _sample(run, item, folder)
            if sample["choices"] is None:
                del sample["choices"]  # inspect reads an absent field, not null, as no choices
            fh.write(json.dumps(sample, ensure_ascii=False) + "\n")
    shutil.copyfile(TASK, folder / "task.py")
    subtasks = "\n".join(f"| `{s}` | {len(items)} |" for s, items in run.by_subtask().items())
    (folder / "README.md").write_text(
        f"# {run.name}: Inspect task\n\n{run.requirement}\n\n```\ninspect eval task.py --model openai/gpt-4o\n"
        "inspect eval task.py -T subtask=NAME --model ...\n```\n\n`dataset.jsonl` holds one sample per item; "
        "multiple-choice samples are solved with `multiple_choice()` and scored with `choice()` (target: the "
        "letter), open ones with `generate()` and `match()` (target: the answer text). Images and audio are in "
        f"`media/`; the model must accept them.\n\n| subtask | samples |\n|---|---|\n{subtasks}\n\n"
        f"## Sources\n\n{sources_table(run)}", encoding="utf-8")
