"""The allocation solver: sample quotas per (subtask, dataset, plan) under the size, balance and
capacity constraints; a diagnosis of why an allocation is infeasible; an adjustment that repairs it."""

from __future__ import annotations

import math

from state.models import Allocation, Grounding, Quota


def limit(g: Grounding) -> int:
    """Items a grounding can be expected to yield: usable rows times the verifier's pass rate."""
    return math.floor(g.capacity * g.expected_yield)


def _split(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of `total` in proportion to `weights` (even split if all zero)."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    raw = [total * w / sum(weights) for w in weights]
    parts = [math.floor(x) for x in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def propose(total: int, subtasks: list[str], groundings: list[Grounding]) -> Allocation:
    """Balanced: an even share per subtask, split across its groundings by expected yield."""
    quotas = []
    for sub, share in zip(subtasks, _split(total, [1.0] * len(subtasks))):
        mine = [g for g in groundings if g.subtask == sub]
        for g, n in zip(mine, _split(share, [float(limit(g)) for g in mine])):
            quotas.append(Quota(subtask=sub, dataset=g.plan.dataset, grounding=g.key, target=n))
    return Allocation(total=total, quotas=quotas)


def diagnose(alloc: Allocation, groundings: list[Grounding]) -> list[str]:
    """Every reason the allocation cannot be realised; empty when it is feasible."""
    limits = {g.key: limit(g) for g in groundings}
    problems = [
        f"{q.grounding} asks {q.target} items but can yield about {limits.get(q.grounding, 0)}"
        for q in alloc.quotas
        if q.target > limits.get(q.grounding, 0)
    ]
    planned = sum(q.target for q in alloc.quotas)
    if planned != alloc.total:
        problems.append(f"quotas sum to {planned}, the benchmark needs {alloc.total}")
    return problems


def capacity(groundings: list[Grounding]) -> int:
    return sum(limit(g) for g in groundings)


def adjust(alloc: Allocation, groundings: list[Grounding]) -> Allocation:
    """Cap each quota at its limit and hand the missing items, one at a time, to a quota with room in
    the subtask holding the fewest items, which keeps the benchmark as balanced as the data allows."""
    limits = {g.key: limit(g) for g in groundings}
    quotas = [q.model_copy(update={"target": min(q.target, limits[q.grounding])}) for q in alloc.quotas]
    missing = alloc.total - sum(q.target for q in quotas)
    while missing > 0:
        room = [q for q in quotas if q.target < limits[q.grounding]]
        if not room:
            break
        totals = {q.subtask: sum(x.target for x in quotas if x.subtask == q.subtask) for q in quotas}
        chosen = min(room, key=lambda q: (totals[q.subtask], q.target - limits[q.grounding], q.grounding))
        chosen.target += 1
        missing -= 1
    return Allocation(total=alloc.total, quotas=quotas)
