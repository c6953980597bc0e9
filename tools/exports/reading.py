"""A finished run as the exporters see it: validated items, their media, sources and licences."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from state.models import Item, Source
from tools.licences import strictest
from tools.run_store import CARD, ITEMS, SPEC, SUMMARY
from tools.safety import UnsafeInputError, confine

MARKER = ".benchagent-export"  # marks a folder an export wrote, so only those are ever replaced


class ExportError(ValueError):
    """Bad input to an export: the message names the problem and the fix."""


@dataclass(frozen=True)
class Run:
    root: Path
    items: list[Item]
    requirement: str
    license: str | None

    @property
    def name(self) -> str:
        return self.root.name

    def by_subtask(self) -> dict[str, list[Item]]:
        """Items per subtask, subtasks in the order they first appear."""
        groups: dict[str, list[Item]] = {}
        for item in self.items:
            groups.setdefault(item.subtask, []).append(item)
        return groups

    def names(self, name: Callable[[str, int], str]) -> dict[str, str]:
        """Subtask -> `name(subtask, n)` for the first n from 1 that no earlier subtask took: file and task
        names made from slugs stay distinct where two subtask ids slug alike."""
        names: dict[str, str] = {}
        for subtask in self.by_subtask():
            n = 1
            while name(subtask, n) in names.values():
                n += 1
            names[subtask] = name(subtask, n)
        return names

    def media(self, rel: str) -> Path:
        """The file an item's media path names, confined to the run directory."""
        try:
            path = confine(self.root, rel)
        except UnsafeInputError as exc:
            raise ExportError(f"{self.root / ITEMS}: {exc}") from None
        if not path.is_file():
            raise ExportError(f"{self.root / ITEMS} names {rel}, which is missing; rebuild or resume the run")
        return path

    def sources(self) -> list[tuple[str, str, int]]:
        """(dataset, licence, items drawing on it), sorted by dataset."""
        counts = Counter((s.dataset, s.license or "unknown") for item in self.items for s in item_sources(item))
        return sorted((dataset, licence, n) for (dataset, licence), n in counts.items())


def item_sources(item: Item) -> list[Source]:
    """The item's own source and any further ones it was built from (metadata["sources"])."""
    extra = item.metadata.get("sources") or []
    found = [item.source]
    for record in extra if isinstance(extra, list) else []:
        try:
            source = Source.model_validate(record)
        except ValidationError:
            continue  # a malformed extra record cannot be attributed; the item's own source still is
        if source not in found:
            found.append(source)
    return found


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_run(run_dir: Path) -> Run:
    """Read and validate a run directory; ExportError says what is wrong with it."""
    root = Path(run_dir).expanduser()
    if not (root / ITEMS).is_file():
        raise ExportError(f"{root} is not a run directory (no {ITEMS}); pass the folder `benchagent build` "
                          "wrote, e.g. runs/demo")
    items = []
    for number, line in enumerate((root / ITEMS).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(Item.model_validate_json(line))
        except ValidationError as exc:
            raise ExportError(f"{root / ITEMS} line {number} is not a valid item ({exc.errors()[0]['msg']}); "
                              "rebuild or resume the run") from None
    if not items:
        raise ExportError(f"{root / ITEMS} has no items; finish the build first (benchagent resume {root})")
    licence = _read_json(root / SUMMARY).get("license")
    if not isinstance(licence, str):
        licence = strictest([s.license for item in items for s in item_sources(item)])
    requirement = _read_json(root / SPEC).get("requirement")
    return Run(root.resolve(), items, requirement if isinstance(requirement, str) else "", licence)


def sources_table(run: Run) -> str:
    """A markdown table of the datasets the items come from, and the licence governing the whole."""
    rows = "\n".join(f"| {d} | {lic} | {n} |" for d, lic, n in run.sources())
    return (f"| dataset | license | items |\n|---|---|---|\n{rows}\n\nThe strictest source licence is "
            f"**{run.license or 'unknown'}**: it governs how this benchmark as a whole may be shared. See the run's "
            f"{CARD} for how the items were built.\n")


def replace_folder(out: Path, write: Callable[[Path], None]) -> Path:
    """Have `write` fill a fresh folder, then swap it in for `out`, so a failed export leaves the old one."""
    out = out.expanduser().resolve()
    if out.exists() and not (out / MARKER).exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and was not written by an export; pick an empty or new folder with --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        write(fresh)
        (fresh / MARKER).write_text("written by benchagent export; replaced on the next export\n")
        os.chmod(fresh, 0o755)
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        if out.exists():
            out.replace(old / out.name)
        fresh.replace(out)
        shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return out
