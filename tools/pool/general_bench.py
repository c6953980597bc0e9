"""General-Bench layout: one annotation JSON per dataset, {"task": ..., "data": [{"input", "output"}]},
with field names that drift from task to task. Everything here maps that drift onto roles."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from tools.pool.roles import clean_answer, normalise_dialogue, normalise_options, split_nli, split_options, text
from tools.pool.source import Loaded, Meta, Record, Source, UnreadableDataset, load_json

# Where the answer hides, most specific first.
ANSWER_KEYS = ("answer", "prediction", "text", "response", "category")
MEDIA_KEYS = {
    "image": ("image_file", "image_files", "image", "images", "image_path"),
    "audio": ("audio_file", "audio_files", "audio", "audio_path"),
}
_PLACEHOLDER = re.compile(r"<<<(\w+)>>>(\.?)")


def read_json(path: Path) -> Any:
    try:
        return load_json(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableDataset(f"not valid JSON ({exc}); fix or remove the file") from None


def is_annotation(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("data"), list)


def dataset_folder(json_rel: str) -> str:
    """The JSON's folder, or its parent when the JSON sits in a folder named `json`."""
    parent = PurePosixPath(json_rel).parent
    return (parent.parent if parent.name == "json" else parent).as_posix()


def load(root: Path, src: Source) -> Loaded:
    doc = read_json(root / src.data_file)
    if not is_annotation(doc):
        raise UnreadableDataset("has no top-level 'data' list")
    return Loaded(meta=_meta(doc, src), records=[_record(k, row) for k, row in enumerate(doc["data"])])


def _as_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",") if value else []
    return [t for v in items if (t := text(v))]


def _meta(doc: dict[str, Any], src: Source) -> Meta:
    task, task_type, skill = (text(doc.get(k)) or "" for k in ("task", "type", "skill"))
    capability = _as_list(doc.get("general_capability") or doc.get("capability"))
    # No description field exists in this layout; compose one from what the file declares so
    # search and the planner see capability, declared modalities and format notes.
    parts = [f"{task} ({task_type})" if task_type else task]
    if skill:
        parts.append(f"skill: {skill}")
    if capability:
        parts.append("capability: " + ", ".join(capability))
    modality = doc.get("modality")
    if isinstance(modality, dict):
        parts.append(f"declared modality: {', '.join(_as_list(modality.get('in')))} -> "
                     f"{', '.join(_as_list(modality.get('out')))}")
    others = doc.get("others")
    if isinstance(others, dict):
        parts += [f"{k}: {v}" for k, v in sorted(others.items()) if text(v)]
    return Meta(
        name=PurePosixPath(src.folder).name or src.id,
        task=task,
        task_type=task_type,
        skill=skill,
        domain=_as_list(doc.get("domain")),
        description="; ".join(p for p in parts if p),
        license=text(doc.get("license")),
        source=text(doc.get("data_source") or doc.get("source")),
    )


def _record(index: int, row: Any) -> Record:
    if not isinstance(row, dict):
        return Record(raw={}, sample_id=str(index), problems=[f"row {index} is a {type(row).__name__}, not an object"])
    inp = row["input"] if isinstance(row.get("input"), dict) else {}
    rec = Record(raw=row, sample_id=text(row.get("id")) or str(index))

    def field(key: str) -> tuple[Any, str]:
        """A key under `input`, else at the top level (dialog tasks have no `input`)."""
        return (inp[key], f"input.{key}") if key in inp else (row.get(key), key)

    def put(role: str, value: Any, path: str) -> None:
        if value is not None and role not in rec.values:
            rec.values[role] = value
            rec.paths[role] = path

    if text(row.get("id")):
        put("id", rec.sample_id, "id")

    question, q_path = field("question")
    prompt, p_path = field("prompt")
    prompt = text(prompt)
    consumed: set[str] = set()
    if prompt:
        def fill(m: re.Match[str]) -> str:
            value = text(inp.get(m.group(1)))
            if value is None:
                return m.group(0)
            consumed.add(m.group(1))
            # "<<<raw_text>>>. What is..." after a text that ends a sentence would read ".."
            return value + ("" if value.endswith((".", "!", "?")) else m.group(2))
        prompt = _PLACEHOLDER.sub(fill, prompt)
    if text(question):
        put("question", text(question), q_path)
        put("instruction", prompt, p_path)
    else:  # the prompt is the question (often with the raw text substituted in)
        put("question", prompt, p_path)

    raw, raw_path = field("raw_text")
    raw = text(raw)
    nli = split_nli(raw) if raw else None
    if nli:
        put("premise", nli[0], raw_path)
        put("hypothesis", nli[1], raw_path)
    for key in ("context", "text"):
        value, path = field(key)
        put("context", text(value), path)
    if raw and not nli and "raw_text" not in consumed:
        put("context", raw, raw_path)

    options, o_path = field("options")
    put("options", normalise_options(options), o_path)
    if "options" not in rec.values and "question" in rec.values:
        split = split_options(rec.values["question"])
        if split:
            rec.values["question"] = split[0]
            put("options", split[1], rec.paths["question"])
            rec.options_in_text = True

    for key in ("dialog", "dialogue"):
        value, path = field(key)
        put("dialogue", normalise_dialogue(value), path)

    output = row.get("output")
    if isinstance(output, dict):
        for key in ANSWER_KEYS:
            put("answer", clean_answer(output.get(key)), f"output.{key}")
    else:
        put("answer", clean_answer(output), "output")

    for kind, keys in MEDIA_KEYS.items():
        for key in keys:
            value, path = field(key)
            refs = value if isinstance(value, list) else [value] if value not in (None, "") else []
            if refs:
                rec.media.setdefault(kind, []).extend(refs)
                rec.paths.setdefault(kind, path)
    return rec
