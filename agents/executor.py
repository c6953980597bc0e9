"""Executor: runs the specialised plan's registered tools on one raw sample, producing a draft item."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.resources import pool_for, store_for
from state.context import Context
from state.graph_state import BuildState
from state.models import Grounding, Item, Source, Verdict
from tools.plans.recipes import sample_row
from tools.plans.steps import Draft, StepEnv, StepError, run_step
from tools.run_store import item_id
from tools.safety import UnsafeInputError


def realise(grounding: Grounding, env: StepEnv, overrides: dict) -> Item:
    """Run every step with its per-sample overrides; raise StepError with the reason on failure."""
    draft = Draft()
    draft.metadata["repair"] = overrides.get("repair", 0)
    for step in grounding.plan.steps:
        params = {**step.params, **overrides.get(step.tool, {})}
        run_step(step.model_copy(update={"params": params}), draft, env)
    if not draft.question:
        raise StepError("plan produced no question")
    rel = env.store.relative
    draft.metadata.pop("repair")
    return Item(
        id=env.item_id,
        subtask=grounding.subtask,
        question=draft.question,
        choices=draft.choices,
        answer=draft.answer,
        answer_text=draft.answer_text,
        modality=draft.modality,
        image=[rel(p) for p in draft.image],
        audio=[rel(p) for p in draft.audio],
        source=Source(dataset=env.card.id, sample_id=env.sample, license=env.card.license),
        plan=grounding.plan,
        metadata={**draft.metadata, "grounding": grounding.key,
                  "provenance": [p.model_dump(mode="json") for p in draft.provenance]},
    )


def executor(state: BuildState, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context or Context()
    work = state["work"]
    grounding = next(g for g in state["groundings"] if g.key == work["grounding"])
    pool = pool_for(ctx)
    dataset = grounding.plan.dataset
    row, variant = sample_row(pool, dataset, work["sample_id"])
    env = StepEnv(pool=pool, card=pool.card(dataset), row=row, store=store_for(state["run_dir"]),
                  item_id=item_id(grounding.subtask, dataset, work["sample_id"]), seed=ctx.seed, variant=variant,
                  sample_id=work["sample_id"])
    try:
        draft = realise(grounding, env, {**work["overrides"], "repair": work["repairs"]})
    except (StepError, UnsafeInputError) as exc:
        verdict = Verdict(action="discard", reason=f"transformation failed: {exc}")
        return {"draft": None, "verdict": verdict}
    return {"draft": env.store.write_draft(draft), "verdict": None}
