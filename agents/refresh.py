"""Refresh: the next version of a built benchmark (the paper's continual refreshability). The same
subtasks, plans and per-quota counts as the version it refreshes, a new seed, and no source row that
version or any version before it used; the lineage is the chain of `refresh_of` in each run.json."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

from state.graph_state import QuotaProgress
from state.models import Allocation, BenchmarkSpec
from tools.plans.recipes import VARIANT
from tools.run_store import ITEMS, RUN, SPEC

MAX_VERSIONS = 1000  # a lineage longer than this is a loop in run.json files, not a history


class RefreshError(ValueError):
    """The run to refresh cannot be refreshed; the message says why and what to do."""


def lineage(run_dir: str | Path) -> list[Path]:
    """The run and every version it refreshes, newest first."""
    chain: list[Path] = []
    here: Path | None = Path(run_dir).resolve()
    while here is not None:
        if here in chain or len(chain) >= MAX_VERSIONS:
            raise RefreshError(f"the lineage of {run_dir} loops back to {here}; its run.json files are damaged")
        if not (here / RUN).is_file():
            raise RefreshError(f"{here} is not a run directory (no {RUN}); refresh a benchmark that was built")
        chain.append(here)
        try:
            earlier = json.loads((here / RUN).read_text(encoding="utf-8"))["context"].get("refresh_of") or ""
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RefreshError(f"{here / RUN} is damaged: it holds no context") from None
        here = Path(earlier).resolve() if earlier else None
    return chain


def _items(run_dir: Path) -> list[dict]:
    path = run_dir / ITEMS
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


@lru_cache(maxsize=8)
def used_before(refresh_of: str) -> frozenset[tuple[str, str]]:
    """(dataset, sample id) of every source row any version in the lineage made an item from: its own
    row and any other it drew on (noise, grid cells)."""
    used = set()
    for run in lineage(refresh_of):
        for item in _items(run):
            for src in [item["source"], *item.get("metadata", {}).get("sources", [])]:
                used.add((src["dataset"], source_row(src["sample_id"])))
    return frozenset(used)


def source_row(sample_id: str) -> str:
    """The row a sample id names: "rec~3" (the third item a recipe made from row rec) is row rec."""
    base, sep, k = sample_id.rpartition(VARIANT)
    return base if sep and k.isdigit() else sample_id


def next_version(refresh_of: str) -> dict:
    """The state a refresh starts its executor from: the earlier version's subtasks and plans, each quota
    set to what that version holds, and fresh progress."""
    run = lineage(refresh_of)[0]  # refuses what is not a run, or a damaged lineage
    try:
        spec = BenchmarkSpec.model_validate_json((run / SPEC).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RefreshError(f"{run} has no readable {SPEC} ({exc}); only a finished build can be refreshed") from None
    held = Counter(i.get("metadata", {}).get("grounding", "") for i in _items(run))
    if not held:
        raise RefreshError(f"{run} holds no items to refresh")
    quotas = [q.model_copy(update={"target": held.get(q.grounding, 0)}) for q in spec.allocation.quotas]
    allocation = Allocation(total=sum(q.target for q in quotas), quotas=quotas)
    return {"subtasks": spec.subtasks, "groundings": spec.groundings, "allocation": allocation,
            "not_covered": {c["clause"]: c["why"] for c in spec.coverage if not c.get("served")},
            "progress": {q.grounding: QuotaProgress(accepted=0, drawn=0, rejected=0, exhausted=False)
                         for q in quotas}}
