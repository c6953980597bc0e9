"""The graph state: ids, counts and small models only. Items live on disk, never in state."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from typing_extensions import NotRequired, TypedDict  # noqa: UP035 - pydantic needs these on 3.11

from state.models import Allocation, Grounding, Subtask

# done: every quota met; short: the data ran out; refused: the request cannot be served as asked
# (bad input, or nothing in the pool and policy fits it).
Status = Literal["running", "done", "short", "refused"]
# A requirement is a paragraph, not a document; the full text lives in run.json, and state carries
# only a preview of it, so per-step checkpoints do not grow with it.
MAX_REQUIREMENT_CHARS = 4_000
REQUIREMENT_PREVIEW_CHARS = 200


class QuotaProgress(TypedDict):
    """How far one quota got: the cursor into its dataset's candidate rows and the outcome counts.
    `cause` says why an exhausted quota stopped drawing (data, attempts, budget)."""

    accepted: int
    drawn: int
    rejected: int
    exhausted: bool
    repaired: NotRequired[int]
    cause: NotRequired[str]


class Work(TypedDict):
    """One sample in flight: which quota it serves, which raw row, and its repair history.
    `feedback` maps a plan step to the verifier's reason when that step is being repaired."""

    grounding: str
    sample_id: str
    repairs: int
    feedback: NotRequired[dict[str, str]]


class DraftRef(TypedDict):
    """What an executor task hands the verifier: its work and the parked draft, or why it failed.
    `stop` is set when the failure ends the build (the LLM budget is spent, the key is refused): the
    final status and message."""

    work: Work
    draft: str | None
    failure: str
    stop: NotRequired[dict[str, str]]


class ExecutorTask(TypedDict):
    """The payload of one executor task (a Send): the run and the sample. The plan it realises is in the
    run directory (RunStore.plan), since every pending task's payload is in every checkpoint."""

    run_dir: str
    work: Work


def work_key(work: Work) -> str:
    return f"{work['grounding']}|{work['sample_id']}"


def merge_drafts(old: dict[str, DraftRef] | None, new: dict[str, DraftRef] | None) -> dict[str, DraftRef]:
    """Executor tasks add their drafts side by side; the verifier empties the channel with None."""
    return {} if new is None else {**(old or {}), **new}


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
    # The batch in flight: drafts of this round's executor tasks, keyed by work_key, and the samples
    # the verifier sent back for repair, which the orchestrator dispatches first next round.
    drafts: Annotated[dict[str, DraftRef], merge_drafts]
    repairs: NotRequired[list[Work]]
    halt: NotRequired[dict[str, str]]  # status and message when drawing stopped for good (an LLM stop)
    events: Annotated[list[str], operator.add]
