"""Folder layout: one subfolder per dataset holding data.jsonl / data.csv / data.parquet, media files
beside it and an optional card.json (name, description, task, domain, license, source, roles)."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tools.pool.roles import (
    MEDIA_ROLES,
    ROLES,
    TEXT_ROLES,
    clean_answer,
    infer_roles,
    normalise_dialogue,
    normalise_options,
    split_options,
    text,
)
from tools.pool.source import (
    Loaded,
    Meta,
    Record,
    Source,
    UnreadableDataset,
    check_depth,
    field_at,
    json_list,
    load_json,
)

DATA_FILES = ("data.jsonl", "data.csv", "data.parquet")  # first present wins
CARD_FILE = "card.json"


def load(root: Path, src: Source) -> Loaded:
    card = _read_card(root / src.card_file) if src.card_file else {}
    rows = _read_rows(root / src.data_file)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    roles = infer_roles(columns) | _card_roles(card)
    name = text(card.get("name")) or PurePosixPath(src.folder).name or src.id
    domain = card.get("domain")
    meta = Meta(
        name=name,
        task=text(card.get("task")) or name,
        task_type=text(card.get("task_type")) or "",
        skill=text(card.get("skill")) or "",
        domain=[t for d in (domain if isinstance(domain, list) else [domain]) if (t := text(d))],
        description=text(card.get("description")) or "",
        license=text(card.get("license")),
        source=text(card.get("source")),
        answer_kind=text(card.get("answer_kind")),
    )
    return Loaded(meta=meta, records=[_record(k, row, roles) for k, row in enumerate(rows)])


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card = load_json(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableDataset(f"{CARD_FILE} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(card, dict):
        raise UnreadableDataset(f"{CARD_FILE} must hold an object, not a {type(card).__name__}")
    return card


def _card_roles(card: dict[str, Any]) -> dict[str, str]:
    roles = card.get("roles") or {}
    if not isinstance(roles, dict) or not all(isinstance(v, str) for v in roles.values()):
        raise UnreadableDataset(f'{CARD_FILE} "roles" must map role names to column names')
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise UnreadableDataset(f"{CARD_FILE} names unknown roles {unknown}; known roles: {', '.join(ROLES)}")
    return roles


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        if path.name.endswith(".jsonl"):
            return _read_jsonl(path)
        if path.name.endswith(".csv"):
            return _read_csv(path)
        return [check_depth(row) for row in pq.read_table(path).to_pylist()]  # pyarrow reads structs ~100 deep
    except UnicodeDecodeError as exc:
        raise UnreadableDataset(f"is not UTF-8 text ({exc})") from None
    except (pa.ArrowException, csv.Error) as exc:
        raise UnreadableDataset(f"cannot be parsed ({exc})") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = load_json(line)
        except ValueError as exc:
            raise UnreadableDataset(f"line {lineno} is not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise UnreadableDataset(f"line {lineno} is a {type(row).__name__}, not a JSON object")
        rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise UnreadableDataset("has no header row")
        rows = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise UnreadableDataset(
                    f"line {reader.line_num} has {len(fields)} fields, the header has {len(header)}"
                )
            rows.append(dict(zip(header, fields)))
        return rows


def _record(index: int, row: dict[str, Any], roles: dict[str, str]) -> Record:
    sample_id = text(field_at(row, roles["id"])) if "id" in roles else None
    rec = Record(raw=row, sample_id=sample_id or str(index))
    for role, path in roles.items():
        value = field_at(row, path)
        if role in MEDIA_ROLES:
            refs = _media_refs(value)
            if refs:
                rec.media[role] = refs
                rec.paths[role] = path
            continue
        if role in TEXT_ROLES or role == "id":
            value = text(value)
        elif role == "options":
            value = normalise_options(value)
        elif role == "dialogue":
            value = normalise_dialogue(value)
        else:
            value = clean_answer(json_list(value))
        if value is not None:
            rec.values[role] = value
            rec.paths[role] = path
    if "options" not in rec.values and "question" in rec.values:
        split = split_options(rec.values["question"])
        if split:
            rec.values["question"], rec.values["options"] = split
            rec.paths["options"] = rec.paths["question"]
            rec.options_in_text = True
    return rec


def _media_refs(value: Any) -> list[Any]:
    value = json_list(value)
    if isinstance(value, list):
        return [v for v in value if v not in (None, "")]
    return [] if value in (None, "") else [value]
