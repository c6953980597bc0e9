"""Orchestrator: each round it dispatches up to `samples_at_once` samples as executor tasks (the repairs
the verifier sent back first, then fresh draws for the quotas furthest behind), never more than a quota
still needs, so quotas end exact. It feeds each plan's measured yield back into the allocation: a quota
whose data or attempts will not cover its need at that yield hands the rest to a sibling dataset."""

from __future__ import annotations

import math
import random
from collections import Counter
from functools import lru_cache
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from agents.llm import samples_at_once
from agents.refresh import source_row, used_before
from agents.resources import pool_for, store_for
from state.context import Context
from state.graph_state import BuildState, ExecutorTask, QuotaProgress, Work
from state.models import Allocation, Grounding
from tools.plans.recipes import usable_rows
from tools.pool import Pool

# Outcomes a quota needs before its measured yield, rather than the planner's estimate, moves quota.
MIN_OBSERVED = 5


@lru_cache(maxsize=64)
def _candidates(pool: Pool, dataset: str, recipe: str, key: str, seed: int) -> tuple[str, ...]:
    """The grounding's usable rows in a seeded order, the same on every resume."""
    ids = usable_rows(pool, dataset, recipe)
    random.Random(f"{seed}:{key}").shuffle(ids)
    return tuple(ids)


class _Round:
    """One dispatch round's view of the quotas: progress, what is in flight, and each quota's limits."""

    def __init__(self, state: BuildState, ctx: Context, pool: Pool) -> None:
        self.ctx, self.pool = ctx, pool
        self.alloc: Allocation = state["allocation"]
        self.progress = {k: QuotaProgress(**v) for k, v in state["progress"].items()}
        self.groundings: dict[str, Grounding] = {g.key: g for g in state["groundings"]}
        self.batch: list[Work] = list(state.get("repairs") or [])
        self.flying = Counter(w["grounding"] for w in self.batch)
        self.events: list[str] = []
        self.earlier = used_before(ctx.refresh_of) if ctx.refresh_of else frozenset()

    def candidates(self, key: str) -> tuple[str, ...]:
        g = self.groundings[key]
        return _candidates(self.pool, g.plan.dataset, g.plan.recipe, g.key, self.ctx.seed)

    def budget(self, target: int) -> int:
        return math.ceil(self.ctx.attempts_per_item * target)

    def need(self, key: str, target: int) -> int:
        return target - self.progress[key]["accepted"] - self.flying[key]

    def projected(self, key: str, target: int) -> float:
        """Items the quota can still expect: its remaining draws (data and attempts) times its yield."""
        p = self.progress[key]
        seen = p["accepted"] + p["rejected"]
        rate = p["accepted"] / seen if seen >= MIN_OBSERVED else self.groundings[key].expected_yield
        left = min(len(self.candidates(key)) - p["drawn"], self.budget(target) - seen - self.flying[key])
        return max(left, 0) * rate

    def stop(self, key: str, cause: str) -> None:
        self.progress[key].update(exhausted=True, cause=cause)
        self.events.append(f"orchestrator: {key} stopped: {cause}")


def _rebalance(r: _Round) -> None:
    """Move what a quota cannot deliver (exhausted, or short at its measured yield) to a sibling quota of
    the same subtask that has room; the allocation keeps its total and every subtask its share. A quota
    that gave some away never takes any back, which bounds the moves."""
    gave: set[str] = set()
    for q in list(r.alloc.quotas):
        q = next(x for x in r.alloc.quotas if x.grounding == q.grounding)  # its target after earlier moves
        p, need = r.progress[q.grounding], r.need(q.grounding, q.target)
        seen = p["accepted"] + p["rejected"]
        if need <= 0 or (p["exhausted"] and r.flying[q.grounding]):
            continue  # met, or its repairs may still land
        if p["exhausted"]:
            short = need
        elif seen >= MIN_OBSERVED:
            short = math.floor(need - r.projected(q.grounding, q.target))
        else:
            continue
        sibling = next((s for s in r.alloc.quotas if s.subtask == q.subtask and s is not q and s.grounding not in gave
                        and not r.progress[s.grounding]["exhausted"]
                        and r.projected(s.grounding, s.target + 1) >= r.need(s.grounding, s.target) + 1), None)
        if short <= 0 or sibling is None:
            continue
        shift = {q.grounding: -short, sibling.grounding: short}
        r.alloc = Allocation(total=r.alloc.total, quotas=[x.model_copy(update={"target": x.target + shift.get(
            x.grounding, 0)}) for x in r.alloc.quotas])
        gave.add(q.grounding)
        why = "" if p["exhausted"] else f" (measured yield {p['accepted']}/{seen})"
        r.events.append(f"orchestrator: moved {short} from {q.grounding} to {sibling.grounding}{why}")


def _draw(r: _Round, used: set[tuple[str, str]], slots: int) -> None:
    """Fill the batch with fresh samples, one at a time for the quota furthest behind."""
    claimed = {(r.groundings[w["grounding"]].plan.dataset, w["sample_id"]) for w in r.batch}
    paused: set[str] = set()  # out of attempts while repairs are in flight: they settle it next round
    while len(r.batch) < slots:
        open_ = [q for q in r.alloc.quotas if r.need(q.grounding, q.target) > 0
                 and not r.progress[q.grounding]["exhausted"] and q.grounding not in paused]
        if not open_:
            return
        quota = min(open_, key=lambda q: ((q.target - r.need(q.grounding, q.target)) / max(q.target, 1), q.grounding))
        key, prog = quota.grounding, r.progress[quota.grounding]
        cands, dataset = r.candidates(key), r.groundings[key].plan.dataset
        while prog["drawn"] < len(cands) and ((dataset, cands[prog["drawn"]]) in used
                                              or (dataset, cands[prog["drawn"]]) in claimed
                                              or (dataset, source_row(cands[prog["drawn"]])) in r.earlier):
            prog["drawn"] += 1  # made into an item (here or in an earlier version), or in this batch already
        if prog["drawn"] >= len(cands):
            r.stop(key, f"the data ran out after {prog['drawn']} draws")
            continue
        if prog["accepted"] + prog["rejected"] + r.flying[key] >= r.budget(quota.target):
            if r.flying[key]:
                paused.add(key)
            else:
                r.stop(key, f"the attempt budget of {r.budget(quota.target)} draws "
                            f"({r.ctx.attempts_per_item:g} per item) is spent")
            continue
        sample_id = cands[prog["drawn"]]
        prog["drawn"] += 1
        claimed.add((dataset, sample_id))
        r.batch.append(Work(grounding=key, sample_id=sample_id, repairs=0))
        r.flying[key] += 1


def make_orchestrator_node():
    def orchestrator(state: BuildState, runtime: Runtime[Context]) -> Command[Literal["executor", "assemble"]]:
        ctx = runtime.context or Context()
        if state.get("halt"):
            return Command(goto="assemble", update=dict(state["halt"]))
        r = _Round(state, ctx, pool_for(ctx))
        store = store_for(state["run_dir"])
        before, used = r.alloc, store.used_sources()
        for _ in range(len(r.alloc.quotas) + 1):  # a quota found dry while drawing hands on its rest
            _rebalance(r)
            _draw(r, used, samples_at_once(ctx))
            if r.batch:
                break
        update = {"progress": r.progress, "events": r.events, "repairs": []}
        if r.alloc is not before:
            update["allocation"] = r.alloc
        if not r.batch:
            return Command(goto="assemble", update=update)
        store.keep_plan(state["groundings"], state["subtasks"])
        sends = [Send("executor", ExecutorTask(run_dir=state["run_dir"], work=w)) for w in r.batch]
        return Command(goto=sends, update=update)

    return orchestrator
