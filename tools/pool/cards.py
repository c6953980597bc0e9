"""Dataset cards: deterministic statistics over a dataset's rows, and their on-disk cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from state.models import DatasetCard, FieldInfo, MediaStats, Row
from tools.pool.roles import MEDIA_ROLES, ROLES, TEXT_ROLES
from tools.pool.source import Loaded, Source

# Bump when card building changes so cached cards from older code are not reused.
CARD_VERSION = 2  # 2: unattributed dialogue turns have no speaker
MAX_LABELS = 64
_LETTER = re.compile(r"^[A-Z]$")


def default_cache_dir() -> Path:
    base = os.environ.get("BENCHAGENT_CACHE")
    return Path(base).expanduser() / "cards" if base else Path.home() / ".cache" / "benchagent" / "cards"


def fingerprint(root: Path, src: Source) -> str:
    """Short sha256 over where the dataset lives, the data file (and card.json) bytes, and the names,
    sizes and times of the files beside it, so adding or removing media invalidates the card."""
    digest = hashlib.sha256(str(root.resolve()).encode() + b"\0")
    for path in sorted((root / src.folder).rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    for rel in (src.data_file, src.card_file):
        if rel:
            digest.update(rel.encode() + b"\0")
            with (root / rel).open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def build_card(
    src: Source, loaded: Loaded, rows: list[Row], outcomes: list[tuple[str, str]], fp: str
) -> DatasetCard:
    records = loaded.records
    roles = _roles([r.paths for r in records])
    answers = [row.values["answer"] for row in rows if "answer" in row.values]
    kind = _answer_kind(answers, rows, loaded.meta.answer_kind)
    media = []
    for mkind in MEDIA_ROLES:
        counts = Counter(status for k, status in outcomes if k == mkind)
        if counts:
            media.append(MediaStats(kind=mkind, referenced=sum(counts.values()), **counts))  # type: ignore[arg-type]
    has_text = any(role in row.values for row in rows for role in (*TEXT_ROLES, "options", "dialogue"))
    meta = loaded.meta
    return DatasetCard(
        id=src.id,
        name=meta.name,
        path=src.folder,
        layout=src.layout,
        data_file=src.data_file,
        task=meta.task,
        task_type=meta.task_type,
        description=meta.description,
        domain=meta.domain,
        skill=meta.skill,
        modalities_in=(["text"] if has_text else []) + [m.kind for m in media],
        n_rows=len(rows),
        n_answered=len(answers),
        fields=_fields([r.raw for r in records], roles),
        roles=roles,
        answer_kind=kind,
        label_space=sorted({str(a) for a in answers}) if kind == "label" else None,
        options_in_text=sum(r.options_in_text for r in records),
        media=media,
        license=meta.license,
        source=meta.source,
        fingerprint=fp,
    )


def _roles(per_row: list[dict[str, str]]) -> dict[str, str]:
    """Role -> the raw path that fed it most often (ties: alphabetical)."""
    counts: dict[str, Counter[str]] = {}
    for paths in per_row:
        for role, path in paths.items():
            counts.setdefault(role, Counter())[path] += 1
    return {
        role: min(counts[role].items(), key=lambda kv: (-kv[1], kv[0]))[0] for role in ROLES if role in counts
    }


def _answer_kind(answers: list[Any], rows: list[Row], declared: str | None) -> str:
    if not answers:
        return "none"
    shape = Counter("structured" if isinstance(a, dict) else "list" if isinstance(a, list) else "text" for a in answers)
    top = shape.most_common(1)[0][0]
    if top != "text":
        return top
    strings = [str(a) for a in answers]
    with_options = sum("options" in row.values for row in rows if "answer" in row.values)
    if all(_LETTER.match(s) for s in strings) and with_options * 2 >= len(answers):
        return "letter"
    distinct = len(set(strings))
    if declared == "label" or (distinct <= MAX_LABELS and distinct <= len(answers) / 2):
        return "label"
    return "text"


def _flatten(raw: dict[str, Any], prefix: str = "", depth: int = 2) -> dict[str, Any]:
    """Dotted paths two levels deep ('output.text'); deeper structure stays one value (a box dict)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and depth > 1 and value:
            out.update(_flatten(value, f"{path}.", depth - 1))
        else:
            out[path] = value
    return out


def _fields(raws: list[dict[str, Any]], roles: dict[str, str]) -> list[FieldInfo]:
    role_of: dict[str, str] = {}
    for role, path in roles.items():  # ROLES order: question wins over options on a shared path
        role_of.setdefault(path, role)
    stats: dict[str, dict[str, Any]] = {}
    for raw in raws:
        for path, value in _flatten(raw).items():
            s = stats.setdefault(path, {"types": set(), "present": 0, "seen": {}})
            s["types"].add(type(value).__name__)
            if value is None or value == "" or value == [] or value == {}:
                continue
            s["present"] += 1
            key = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
            s["seen"].setdefault(key, value)
    return [
        FieldInfo(
            path=path,
            role=role_of.get(path),  # type: ignore[arg-type]
            types=sorted(s["types"]),
            present=s["present"],
            distinct=len(s["seen"]),
            examples=[_short(v) for v in list(s["seen"].values())[:3]],
        )
        for path, s in sorted(stats.items())
    ]


def _short(value: Any, limit: int = 80) -> str:
    s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


class CardCache:
    """One JSON file per dataset, keyed by id and fingerprint; never written inside the pool."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, src: Source, fp: str) -> Path:
        return self.directory / f"{src.id}-{fp}-v{CARD_VERSION}.json"

    def get(self, src: Source, fp: str) -> DatasetCard | None:
        try:
            card = DatasetCard.model_validate_json(self._file(src, fp).read_bytes())
        except (OSError, ValidationError):
            return None
        # the same bytes at another place in the pool make another card
        if (card.path, card.data_file, card.layout) != (src.folder, src.data_file, src.layout):
            return None
        return card

    def put(self, card: DatasetCard, src: Source) -> None:
        """Best effort: a read-only cache directory only costs a rebuild next time."""
        target = self._file(src, card.fingerprint)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(card.model_dump_json(indent=1), encoding="utf-8")
            os.replace(tmp, target)
        except OSError:
            pass
