"""The step machinery: a draft item, what a step may read and write, and the step registry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from state.models import DatasetCard, Modality, Provenance, Row, Step
from tools.pool import Pool
from tools.registry import ToolError, ToolResult, Workspace, call
from tools.run_store import RunStore, safe_name
from tools.text import LETTERS, norm


class StepError(ValueError):
    """A step could not turn this row into an item; the message is the rejection reason."""


@dataclass
class Draft:
    """An item under construction; the executor turns it into an Item."""

    question: str = ""
    choices: list[str] | None = None
    answer_text: str = ""
    modality: Modality = "text"
    image: list[Path] = field(default_factory=list)
    audio: list[Path] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: list[Provenance] = field(default_factory=list)

    @property
    def answer(self) -> str:
        """The letter of the answer among the choices, or the answer text for open items."""
        if self.choices is None:
            return self.answer_text
        return LETTERS[[norm(c) for c in self.choices].index(norm(self.answer_text))]


@dataclass
class StepEnv:
    """What a step may read: the pool row and its card; where it may write: the run store."""

    pool: Pool
    card: DatasetCard
    row: Row
    store: RunStore
    item_id: str
    seed: int
    variant: int = 0  # which of the row's items this is, for recipes that make several from one row
    sample_id: str = ""  # the sample drawn: the row's id, or "row~k" for a variant
    llm: Any = None  # the run's LLMClient, for steps that write with LLM tools; None offline
    # Step name -> the verifier's reason, while that step is being repaired; an LLM step puts it in its prompt.
    feedback: dict[str, str] = field(default_factory=dict)

    @property
    def sample(self) -> str:
        return self.sample_id or self.row.sample_id

    def rng(self, salt: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.item_id}:{salt}")

    def workspace(self) -> Workspace:
        """Tools read from the run and the pool, write into the run's media folder, and write with the run's LLM."""
        return Workspace(run_dir=self.store.root, read_roots=(self.pool.root,), seed=self.seed, llm=self.llm)

    def media_name(self, suffix: str) -> str:
        return f"{safe_name(self.item_id, 120)}{suffix}"

    def call(self, draft: Draft, tool_name: str, params: dict[str, Any]) -> ToolResult:
        """Run a registered tool (pure or LLM) for this item and keep its provenance on the draft."""
        try:
            result = call(tool_name, params, self.workspace())
        except ToolError as exc:
            raise StepError(str(exc)) from None
        draft.provenance.append(result.provenance)
        return result


@dataclass(frozen=True)
class Transform:
    name: str
    version: str
    params: type[BaseModel]
    run: Callable[[Draft, StepEnv, Any], list[Path]]


STEPS: dict[str, Transform] = {}


def register(name: str, params: type[BaseModel], version: str = "1"):
    def wrap(fn: Callable[[Draft, StepEnv, Any], list[Path]]):
        STEPS[name] = Transform(name, version, params, fn)
        return fn

    return wrap


def run_step(step: Step, draft: Draft, env: StepEnv) -> None:
    """Validate a step against its tool's parameters, run it and record its provenance."""
    tool = STEPS.get(step.tool)
    if tool is None:
        raise StepError(f"plan names unknown tool {step.tool!r}; known: {', '.join(sorted(STEPS))}")
    try:
        params = tool.params.model_validate(step.params)
    except ValidationError as exc:
        raise StepError(f"bad parameters for {step.tool}: {exc.errors()[0]['msg']}") from None
    outputs = tool.run(draft, env, params)
    draft.provenance.append(
        Provenance(
            tool=tool.name,
            version=tool.version,
            params=params.model_dump(mode="json"),
            inputs=[f"{env.row.dataset}/{env.row.sample_id}"],
            outputs=[env.store.relative(p) for p in outputs],
        )
    )


def row_text(row: Row, role: str) -> str:
    value = row.values.get(role)
    return value.strip() if isinstance(value, str) else ""


def row_answers(row: Row) -> list[str]:
    """The source's acceptable answers as strings (a list when the source gives several)."""
    value = row.values.get("answer")
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None or isinstance(value, dict) or not str(value).strip():
        return []
    return [str(value).strip()]
