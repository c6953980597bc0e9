"""Executor: one task per sample in flight (the orchestrator's Send). Runs the plan's registered steps
on the sample, each specialised by the orchestrator's step policy, runs the verifier's checks on the
result, and parks draft and verdict for the verifier node to decide."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.llm import LLMFactory, choose, llm_client, stop_for, uses_llm
from agents.resources import pool_for, store_for
from agents.step_policy import LLMStepPolicy, OfflineStepPolicy, StepPolicy
from agents.verifier import verifier_for
from state.context import Context
from state.graph_state import DraftRef, ExecutorTask, Work, work_key
from state.models import Grounding, Item, Source
from tools.llm import BudgetExceeded, LLMRejected
from tools.plans.recipes import sample_row
from tools.plans.steps import Draft, StepEnv, StepError, run_step
from tools.run_store import item_id
from tools.safety import UnsafeInputError


def realise(grounding: Grounding, env: StepEnv, work: Work, policy: StepPolicy) -> Item:
    """Run every step as the policy specialises it; raise StepError with the reason on failure. An LLM
    policy sees a failed step's error once and may change its arguments for a second try."""
    draft = Draft()
    draft.metadata["repair"] = work["repairs"]
    for step in grounding.plan.steps:
        try:
            run_step(policy.specialise(grounding, step, draft, env), draft, env)
        except StepError as exc:
            if isinstance(policy, OfflineStepPolicy):
                raise
            run_step(policy.specialise(grounding, step, draft, env, error=str(exc)), draft, env)
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


def make_executor_node(get_llm: LLMFactory | None = None):
    def executor(task: ExecutorTask, runtime: Runtime[Context]) -> dict:
        ctx = runtime.context or Context()
        work, run_dir = task["work"], task["run_dir"]
        groundings, subtasks = store_for(run_dir).plan()
        grounding = groundings[work["grounding"]]
        pool = pool_for(ctx)
        dataset = grounding.plan.dataset
        row, variant = sample_row(pool, dataset, work["sample_id"])
        env = StepEnv(pool=pool, card=pool.card(dataset), row=row, store=store_for(run_dir),
                      item_id=item_id(grounding.subtask, dataset, work["sample_id"]), seed=ctx.seed, variant=variant,
                      sample_id=work["sample_id"], feedback=dict(work.get("feedback") or {}),
                      llm=llm_client(ctx, run_dir, get_llm) if uses_llm(ctx, "orchestrator") else None)
        policy: StepPolicy = choose(ctx, OfflineStepPolicy, lambda client: LLMStepPolicy(client, grounding.subtask),
                                    get_llm, run_dir, role="orchestrator")
        ref = DraftRef(work=work, draft=None, failure="")
        try:
            item = realise(grounding, env, work, policy)
            verdict = verifier_for(ctx, run_dir, subtasks[grounding.subtask], get_llm).verify(item, row, env.store,
                                                                                             pool)
            ref["draft"] = env.store.write_draft(item, verdict)
        except (StepError, UnsafeInputError) as exc:
            ref["failure"] = f"transformation failed: {exc}"
        except (BudgetExceeded, LLMRejected) as exc:  # no further sample can be built either
            ref.update(failure=str(exc), stop=stop_for(exc))
        return {"drafts": {work_key(work): ref}}

    return executor
