"""Shared fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_stub import openai_stub  # noqa: F401 - the scripted OpenAI server, a fixture for every module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def gb_mini() -> Path:
    """The read-only General-Bench mini pool next to the repo; never write into it."""
    path = REPO.parent / "shared/pools/general-bench-mini"
    if not path.is_dir():
        pytest.skip(f"General-Bench mini pool not found at {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _card_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep tests from reading or filling the user's card cache."""
    import os

    os.environ["BENCHAGENT_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _no_item_names_media_it_lacks(tmp_path: Path):
    """After every test, scan each benchmark it built: no question or option may mention an image or a
    recording the item does not carry."""
    yield
    from tools.quality.item_checks import mentioned_media

    for path in tmp_path.rglob("items.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            carried = {kind for kind in ("image", "audio") if item.get(kind)}
            texts = [item["question"], *(item.get("choices") or [])]
            claimed = set().union(*(mentioned_media(t) for t in texts))
            assert claimed <= carried, f"{path}: item {item['id']} mentions {claimed - carried} it lacks"
