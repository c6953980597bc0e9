"""The Orchestrator's per-sample decisions: before each step of the dataset-level plan, specialise it
to this sample and the draft so far (the step's arguments, the source field a role reads), within the
plan's steps and the step's own parameter schema. Offline the plan runs literally, with seeded
choices where the plan leaves one open; an LLM decides from each step's result what the next needs."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from state.models import Grounding, Step
from tools.llm import LLMClient, LLMOutputError
from tools.plans.steps import STEPS, Draft, StepEnv
from tools.pool.source import field_at

FIELD_CHARS = 600  # of each source field shown to the model: enough to judge, short enough to stay cheap


class StepPolicy(Protocol):
    def specialise(self, grounding: Grounding, step: Step, draft: Draft, env: StepEnv, error: str = "") -> Step: ...


class OfflineStepPolicy:
    """The plan as written; where it leaves a choice open (which degradation), a seeded pick per sample."""

    def specialise(self, grounding: Grounding, step: Step, draft: Draft, env: StepEnv, error: str = "") -> Step:
        from tools.pure.images import PERTURBATIONS

        if step.tool == "perturb_image" and not step.params.get("ops"):
            rng = random.Random(f"{env.seed}:{grounding.key}:{env.sample}:perturb")
            op = rng.choice(sorted(PERTURBATIONS))
            return step.model_copy(update={"params": {**step.params, "ops": [{"op": op,
                                                                              "params": dict(PERTURBATIONS[op])}]}})
        return step


class ParamValue(BaseModel):
    name: str = Field(description="A parameter of the step, as its schema names it.")
    value_json: str = Field(description="Its value for this sample, as JSON (e.g. 12, \"text\", [\"a\"]).")


class FieldChoice(BaseModel):
    role: str = Field(description="A role the step reads (question, context, dialogue, ...).")
    path: str = Field(description="The source field to read it from for this sample, a dotted path of the record.")


class StepAction(BaseModel):
    """The next action: the plan's next step with the arguments and fields specialised to the sample."""

    params: list[ParamValue] = Field(default_factory=list, description="Parameters to change; none keeps the plan's.")
    fields: list[FieldChoice] = Field(default_factory=list, description="Role to source field changes; usually none.")
    reason: str = Field("", max_length=300, description="Why, in one sentence.")


SYSTEM = """You are the Orchestrator of a benchmark builder. One benchmark item is realised from one source \
sample by running a fixed plan of registered steps in order. Before each step you may specialise it to \
this sample: change a parameter (only those in the step's schema) or the source field a role is read from \
(only fields the sample has). Keep the plan's values unless this sample needs otherwise: the item must \
test the subtask's skill and stay answerable from its own text and media. When the last attempt of this \
step failed, fix what the error names. Reply with JSON only."""


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= FIELD_CHARS else text[:FIELD_CHARS] + "..."


@lru_cache(maxsize=64)
def _schema(tool: str) -> str:
    return json.dumps(STEPS[tool].params.model_json_schema().get("properties", {}), ensure_ascii=False)


def _prompt(grounding: Grounding, subtask: str, step: Step, draft: Draft, env: StepEnv, error: str) -> str:
    schema = _schema(step.tool)
    fields = "\n".join(f"- {role}: {_clip(v)}" for role, v in env.row.values.items())
    done = ", ".join(p.tool for p in draft.provenance if p.tool in STEPS) or "none yet"
    shown = {"question": draft.question, "choices": draft.choices, "answer": draft.answer_text,
             "images": len(draft.image), "audio": len(draft.audio)}
    return (f"Subtask: {subtask}\nPlan ({grounding.plan.recipe} on {grounding.plan.dataset}): "
            f"{' -> '.join(s.tool for s in grounding.plan.steps)}\nSteps done: {done}\n"
            f"Draft so far: {_clip(shown)}\nSample {env.sample} fields:\n{fields}\n"
            f"Record fields: {', '.join(f.path for f in env.card.fields[:40])}\n\n"
            f"Next step: {step.tool}, the plan's parameters {json.dumps(step.params, ensure_ascii=False)}; "
            f"its schema: {schema}" + (f"\nThe last attempt failed: {error}" if error else "")
            + (f"\nThe verifier sent the item back to this step: {env.feedback[step.tool]}"
               if step.tool in env.feedback else ""))


class LLMStepPolicy:
    """Asks the orchestrator model before each step that has parameters; an answer outside the step's
    schema or the sample's fields is not applied, and the reason is kept on the draft."""

    def __init__(self, client: LLMClient, subtask: str) -> None:
        self.client, self.subtask = client, subtask
        self.offline = OfflineStepPolicy()

    def specialise(self, grounding: Grounding, step: Step, draft: Draft, env: StepEnv, error: str = "") -> Step:
        step = self.offline.specialise(grounding, step, draft, env)
        if not STEPS[step.tool].params.model_fields:
            return step  # nothing to specialise: no call
        notes = draft.metadata.setdefault("orchestrator", [])
        try:
            action = self.client.structured("orchestrator", "orchestrator.step", [
                ("system", SYSTEM), ("user", _prompt(grounding, self.subtask, step, draft, env, error))], StepAction)
        except LLMOutputError as exc:  # no usable decision: the plan's step as written is still a good one
            notes.append(f"{step.tool}: no usable decision ({exc.kind}), the plan's parameters kept")
            return step
        params = dict(step.params)
        for change in action.params:
            if change.name not in STEPS[step.tool].params.model_fields:
                notes.append(f"{step.tool}: no parameter {change.name!r}, not applied")
                continue
            try:
                params[change.name] = json.loads(change.value_json)
            except ValueError:
                notes.append(f"{step.tool}: {change.name} value {change.value_json[:40]!r} is not JSON, not applied")
        try:
            STEPS[step.tool].params.model_validate(params)
        except ValidationError as exc:
            notes.append(f"{step.tool}: {exc.errors()[0]['msg']}; the plan's parameters kept")
            params = dict(step.params)
        self._remap(action.fields, env, notes, step.tool)
        if params != step.params or action.fields:
            notes.append(f"{step.tool}: {action.reason}".strip())
        return step.model_copy(update={"params": params})

    @staticmethod
    def _remap(fields: list[FieldChoice], env: StepEnv, notes: list[str], tool: str) -> None:
        known = {f.path for f in env.card.fields}
        values = dict(env.row.values)
        for choice in fields:
            value = field_at(env.row.raw, choice.path) if choice.path in known else None
            if choice.role not in values or value in (None, "", []):
                notes.append(f"{tool}: field {choice.path!r} for {choice.role!r} is not in this sample, not applied")
                continue
            values[choice.role] = value
        env.row = env.row.model_copy(update={"values": values})
