"""Value models: what the agents pass to each other and what the run writes to disk."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Modality = Literal["text", "image", "audio"]
# Canonical roles a dataset field can play; loaders map raw keys onto these so no agent sees
# the pool's heterogeneity.
Role = Literal[
    "id", "question", "options", "context", "image", "audio", "answer", "dialogue", "premise",
    "hypothesis", "instruction",
]
AnswerKind = Literal["letter", "label", "text", "list", "structured", "none"]


class FieldInfo(BaseModel):
    """One field of a dataset, as observed in its rows."""

    path: str = Field(description="Dotted path in the raw row, e.g. 'output.prediction'.")
    role: Role | None = None
    types: list[str] = Field(default_factory=list, description="Python type names seen.")
    present: int = 0
    distinct: int = 0
    examples: list[str] = Field(default_factory=list)


class MediaStats(BaseModel):
    kind: Modality
    referenced: int = 0
    present: int = 0
    missing: int = 0
    refused: int = 0


class DatasetCard(BaseModel):
    """Deterministic description of one pool dataset, built from its data alone."""

    id: str
    name: str
    path: str = Field(description="Dataset folder relative to the pool root.")
    layout: Literal["general-bench", "folder"]
    data_file: str = Field(description="Annotation file relative to the pool root.")
    task: str = ""
    task_type: str = ""
    description: str = ""
    domain: list[str] = Field(default_factory=list)
    skill: str = ""
    modalities_in: list[Modality] = Field(default_factory=list)
    n_rows: int = 0
    n_answered: int = Field(0, description="Rows with a non-empty answer.")
    fields: list[FieldInfo] = Field(default_factory=list)
    roles: dict[str, str] = Field(default_factory=dict, description="Role -> field path.")
    answer_kind: AnswerKind = "none"
    label_space: list[str] | None = Field(None, description="Distinct answers when few enough to be labels.")
    options_in_text: int = Field(0, description="Rows whose options sit inside the question text.")
    media: list[MediaStats] = Field(default_factory=list)
    license: str | None = None
    source: str | None = None
    fingerprint: str = ""

    def media_stats(self, kind: Modality) -> MediaStats | None:
        return next((m for m in self.media if m.kind == kind), None)

    def has_roles(self, roles: list[str]) -> bool:
        return all(r in self.roles for r in roles)


class Subtask(BaseModel):
    """One independent, testable evaluation dimension of the benchmark."""

    id: str
    name: str
    description: str
    recipe: str = Field(description="Recipe id the subtask is realised with.")
    modality: Modality
    keywords: list[str] = Field(default_factory=list, description="Words that steer dataset search.")
    clause: str = Field("", description="The part of the requirement this subtask answers.")
    alternatives: list[str] = Field(default_factory=list, description="Recipes to try if this one fails.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Step parameters the requirement fixes, e.g. snr_db, noise."
    )
    count: int | None = Field(None, ge=1, le=100_000, description="Items the requirement asks for this subtask.")


class Step(BaseModel):
    """One call of a registered transformation tool."""

    tool: str
    params: dict[str, Any] = Field(default_factory=dict)


class TransformPlan(BaseModel):
    """Dataset-level plan: how any row of `dataset` becomes an item for a subtask."""

    recipe: str
    dataset: str
    field_map: dict[str, str] = Field(default_factory=dict, description="Role -> raw field path.")
    steps: list[Step] = Field(default_factory=list)


class PlanScores(BaseModel):
    alignment: float = Field(ge=0, le=1, description="How well the data fits the subtask.")
    robustness: float = Field(ge=0, le=1, description="Share of rows the transformation can use.")
    preservation: float = Field(ge=0, le=1, description="How well the evaluation signal survives.")
    reasons: dict[str, str] = Field(default_factory=dict, description="Why each score, when a judge gave one.")

    def passes(self, threshold: float) -> bool:
        return min(self.alignment, self.robustness, self.preservation) >= threshold


class Grounding(BaseModel):
    """A scored plan that supports a subtask from one dataset."""

    subtask: str
    plan: TransformPlan
    scores: PlanScores
    capacity: int = Field(description="Rows the plan can draw from.")
    expected_yield: float = Field(ge=0, le=1)

    @property
    def key(self) -> str:
        return f"{self.subtask}@{self.plan.dataset}"


class Quota(BaseModel):
    subtask: str
    dataset: str
    grounding: str = Field(description="Grounding key, subtask@dataset.")
    target: int = Field(ge=0)


class Allocation(BaseModel):
    total: int
    quotas: list[Quota] = Field(default_factory=list)

    def for_subtask(self, subtask: str) -> int:
        return sum(q.target for q in self.quotas if q.subtask == subtask)


class BenchmarkSpec(BaseModel):
    """The full, grounded and allocated spec a run realises; written to spec.json."""

    requirement: str
    subtasks: list[Subtask]
    groundings: list[Grounding]
    allocation: Allocation
    seed: int
    decider: str
    pool: str
    coverage: list[dict[str, Any]] = Field(
        default_factory=list, description="Per clause of the requirement: the subtasks serving it, or why none does.")


class Provenance(BaseModel):
    """What produced an artefact: enough to reproduce it."""

    tool: str
    version: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    llm: dict[str, Any] | None = Field(None, description="For an LLM tool: model, prompt_hash, tokens, cached.")


class Source(BaseModel):
    dataset: str
    sample_id: str
    license: str | None = None


class Item(BaseModel):
    """One benchmark item, one line of items.jsonl. Media paths are relative to the run directory."""

    id: str
    subtask: str
    question: str
    choices: list[str] | None = None
    answer: str = Field(description="A letter for multiple choice, else the answer text.")
    answer_text: str
    modality: Modality
    image: list[str] = Field(default_factory=list)
    audio: list[str] = Field(default_factory=list)
    source: Source
    plan: TransformPlan
    metadata: dict[str, Any] = Field(default_factory=dict)


class Check(BaseModel):
    name: str
    passed: bool
    detail: str = ""


class Verdict(BaseModel):
    """The verifier's judgement of one drafted item."""

    action: Literal["accept", "repair", "discard"]
    checks: list[Check] = Field(default_factory=list)
    reason: str = ""
    repair: dict[str, str] = Field(default_factory=dict, description="For a repair: plan step -> what to fix there.")

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


class Row(BaseModel):
    """One pool sample with its fields mapped onto canonical roles.

    `values` holds role -> value: question/context/premise/hypothesis/instruction are text, options is
    a list of strings, dialogue a list of {"speaker", "text"} turns, answer is whatever the source gave.
    `media` holds paths relative to the pool root that passed confinement and exist; `problems` says why
    any referenced media was refused or missing.
    """

    dataset: str
    sample_id: str
    values: dict[str, Any] = Field(default_factory=dict)
    media: dict[str, list[str]] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    # The source record as read, for checks that must not trust the role mapping (the verifier
    # re-reads the gold answer from it) and for annotations no role names (speaker turns).
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
