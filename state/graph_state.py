"""The graph state: ids, counts and small models only. Items live on disk, never in state."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from typing_extensions import NotRequired, TypedDict  # noqa: UP035 - pydantic needs these on 3.11

from state.models import Allocation, Grounding, Subtask, Verdict

# done: every quota met; short: the data ran out; refused: the request cannot be served as asked
# (bad input, or nothing in the pool and policy fits it).
Status = Literal["running", "done", "short", "refused"]
# A requirement is a paragraph, not a document; the full text lives in run.json, and state carries
# only a preview of it, so per-step checkpoints do not grow with it.
MAX_REQUIREMENT_CHARS = 4_000
REQUIREMENT_PREVIEW_CHARS = 200


class QuotaProgress(TypedDict):
    """How far one quota got: the cursor into its dataset's candidate rows and the outcome counts."""

    accepted: int
    drawn: int
    rejected: int
    exhausted: bool


class Work(TypedDict):
    """The sample in flight: which quota it serves, which raw row, and its repair history."""

    grounding: str
    sample_id: str
    repairs: int
    overrides: dict[str, Any]


class InputState(TypedDict):
    requirement: str


class OutputState(TypedDict):
    status: NotRequired[Status]
    message: NotRequired[str]
    run_dir: NotRequired[str]
    summary: NotRequired[dict[str, Any]]


class BuildState(InputState, OutputState):
    # Planner
    subtasks: NotRequired[list[Subtask]]
    design_rounds: NotRequired[int]
    design_feedback: Annotated[list[str], operator.add]  # every reason a design was sent back
    rejected_subtasks: NotRequired[dict[str, str]]
    not_covered: NotRequired[dict[str, str]]  # clause of the requirement -> why no subtask serves it
    first_rejections: NotRequired[dict[str, str]]  # clause -> why grounding rejected its first-choice recipe
    shortfall: NotRequired[int]
    groundings: NotRequired[list[Grounding]]
    allocation: NotRequired[Allocation]
    diagnosis: NotRequired[list[str]]
    adjust_rounds: NotRequired[int]
    # Executor
    progress: NotRequired[dict[str, QuotaProgress]]
    # Per subtask: blind-solver hits of the accepted items so far (tools.quality.blind), a few counters
    blind: NotRequired[dict[str, dict[str, Any]]]
    work: NotRequired[Work | None]
    draft: NotRequired[str | None]  # run-relative path of the item awaiting verification
    verdict: NotRequired[Verdict | None]
    events: Annotated[list[str], operator.add]
