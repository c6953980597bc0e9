"""Shared fixtures."""

from __future__ import annotations

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
