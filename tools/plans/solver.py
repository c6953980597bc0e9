"""The allocation solver: sample quotas per grounding (subtask x dataset plan) as an integer programme,
a diagnosis that names the constraints an allocation breaks, and an adjustment that repairs it.

The model, solved with scipy.optimize.milp (HiGHS); n subtasks, N = the requested size:

  x_g      integer quota of grounding g; X_s = the sum of x_g over the groundings of subtask s
  size     sum_g x_g == N
  yield    0 <= x_g <= limit(g) = floor(capacity_g * expected_yield_g): what the dataset can give
  minimum  X_s >= MIN_PER_SUBTASK: no subtask without items
  balance  strict: every X_s lies in {lam - 1, lam} for one integer level lam, i.e. the totals differ
           by at most one item: the even split floor(N/n) or ceil(N/n).
           relaxed (what adjust solves): a subtask may sit lower when it is exhausted (X_s == its
           limit); the others take its shortfall, still within one item of each other ("water
           filling": as equal as the capacities allow). Binary e_s marks an exhausted subtask:
           X_s >= lam - 1 - N * e_s and X_s >= limit_s * e_s, with e_s fixed to 0 when strict.
  spread   objective: minimise sum_g |x_g - X_s * limit_g / limit_s|, the items by which each
           subtask's split strays from the proportion its datasets can yield (auxiliary d_g >= |.|).
  ties     among equally good allocations, the one giving the most to the first grounding in key
           order, then to the next, ... (one small solve per grounding), so the answer never depends
           on the order the groundings come in nor on the solver's path.

`propose` solves the strict problem. When that is infeasible it returns the balanced request itself
(every subtask its even share, split by yield), which `diagnose` then explains: the quotas above what
a dataset yields, and the binding constraints (which subtask lacks how many items for its share, how
many items the data lacks for the size), with the numbers in a `Diagnosis`. `diagnose` validates any
allocation, whoever wrote it (a model, a reviewer's edit): quotas above a limit, for unknown or
duplicated groundings, mislabelled, a total that is not the size, a subtask below the minimum.
Balance is not a validity rule: a reviewer may unbalance on purpose. `adjust` re-solves with balance
relaxed; when even that is infeasible it returns the most the data allows, and the allocation agent
sends the design back with the diagnosis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from state.models import Allocation, Grounding, Quota

# One item is the least a subtask can be measured with. A larger floor (say half the even share) would
# refuse data that exists: balance already gives a starved subtask everything it can yield, and
# `diagnose` says by how much it falls short of its share.
MIN_PER_SUBTASK = 1
_TOL = 1e-6  # slack on the optimal spread when breaking ties; far below one item
_OPTIONS = {"mip_rel_gap": 0.0, "time_limit": 30.0, "presolve": True}


def limit(g: Grounding) -> int:
    """Items a grounding can be expected to yield: usable rows times the verifier's pass rate."""
    return math.floor(g.capacity * g.expected_yield)


def capacity(groundings: Sequence[Grounding]) -> int:
    """Items all the groundings together can be expected to yield."""
    return sum(limit(g) for g in groundings)


@dataclass(frozen=True)
class Diagnosis:
    """Why an allocation cannot be realised, in words and in numbers."""

    total: int  # the requested size
    faults: list[str] = field(default_factory=list)  # what is wrong with the allocation as given
    binding: list[str] = field(default_factory=list)  # constraints the data cannot meet, in plain words
    yields: dict[str, int] = field(default_factory=dict)  # subtask -> items its groundings can yield
    missing: int = 0  # items the groundings cannot yield for the size at all
    short: dict[str, int] = field(default_factory=dict)  # subtask -> items it lacks for its even share
    starved: dict[str, int] = field(default_factory=dict)  # subtask -> items it lacks for the minimum
    min_size: int = 0  # the smallest size that gives every subtask its minimum

    @property
    def problems(self) -> list[str]:
        """Every reason, faults first; empty when the allocation is feasible."""
        return [*self.faults, *self.binding] if self.faults else []

    @property
    def repairable(self) -> bool:
        """Whether the relaxed problem has a solution, i.e. `adjust` can make the allocation feasible."""
        return not self.missing and not self.starved and self.total >= self.min_size


def _candidates(subtasks: Sequence[str], groundings: Sequence[Grounding]) -> list[Grounding]:
    """The groundings of the given subtasks, one per key, in key order."""
    wanted, seen = set(subtasks), {}
    for g in groundings:
        if g.subtask in wanted:
            seen.setdefault(g.key, g)
    return [seen[k] for k in sorted(seen)]


def _allocation(total: int, subtasks: Sequence[str], groundings: Sequence[Grounding],
                targets: dict[str, int]) -> Allocation:
    """Quotas in subtask order, then in the groundings' own (ranked) order; one per grounding key."""
    quotas: dict[str, Quota] = {}
    for s in subtasks:
        for g in groundings:
            if g.subtask == s and g.key in targets and g.key not in quotas:
                quotas[g.key] = Quota(subtask=s, dataset=g.plan.dataset, grounding=g.key, target=targets[g.key])
    return Allocation(total=total, quotas=list(quotas.values()))


@dataclass
class _Programme:
    """The integer programme of the module docstring over variables [x (n_g) | d (n_g) | lam | e (n_s)]."""

    n_g: int
    cost: np.ndarray
    integrality: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rows: LinearConstraint


def _programme(total: int, subs: list[str], cands: list[Grounding], relaxed: bool, minimum: int,
               fixed: dict[str, int]) -> _Programme:
    """The rows, bounds and costs; exhausted flags e_s are pinned to 0 unless `relaxed`. A subtask in
    `fixed` gets exactly its count and stays out of the balance."""
    n_g, n_s = len(cands), len(subs)
    lim = np.array([limit(g) for g in cands], dtype=float)
    member = np.array([[g.subtask == s for g in cands] for s in subs], dtype=float).reshape(n_s, n_g)
    lim_s = member @ lim
    owner = member.T @ lim_s  # per grounding: its subtask's limit
    share = np.divide(lim, owner, out=np.zeros(n_g), where=owner > 0)  # its part of the subtask's yield
    spread = np.eye(n_g) - share[:, None] * (member.T @ member)  # x_g - share_g * X_s
    z_sg, z_s1, z_ss, z_g1 = np.zeros((n_s, n_g)), np.zeros((n_s, 1)), np.zeros((n_s, n_s)), np.zeros((n_g, 1))
    one_s, eye_g, z_gs = np.ones((n_s, 1)), np.eye(n_g), np.zeros((n_g, n_s))
    free = np.array([s not in fixed for s in subs])
    count = np.array([fixed.get(s, 0) for s in subs], dtype=float)
    blocks = [  # (rows over [x | d | lam | e], lower, upper)
        (np.r_[np.ones(n_g), np.zeros(n_g + 1 + n_s)][None, :], total, total),  # size
        (np.block([[member, z_sg, -one_s, z_ss]]), -np.inf, np.where(free, 0, np.inf)),  # X_s <= lam
        (np.block([[member, z_sg, -one_s, total * np.eye(n_s)]]), np.where(free, -1, -np.inf), np.inf),  # >= lam-1
        (np.block([[member, z_sg, z_s1, -np.diag(np.minimum(lim_s, total + 1))]]), 0, np.inf),  # e_s: at limit
        (np.block([[member, z_sg, z_s1, z_ss]]), np.where(free, minimum, count),
         np.where(free, np.inf, count)),  # minimum, or exactly the fixed count
        (np.block([[spread, eye_g, z_g1, z_gs]]), 0, np.inf),  # d_g >= x_g - share_g X_s
        (np.block([[-spread, eye_g, z_g1, z_gs]]), 0, np.inf),  # d_g >= share_g X_s - x_g
    ]
    a = np.vstack([b[0] for b in blocks])
    lb = np.concatenate([np.broadcast_to(np.asarray(b[1], dtype=float), len(b[0])) for b in blocks])
    ub = np.concatenate([np.broadcast_to(np.asarray(b[2], dtype=float), len(b[0])) for b in blocks])
    return _Programme(
        n_g=n_g,
        cost=np.r_[np.zeros(n_g), np.ones(n_g), 0, np.zeros(n_s)],
        integrality=np.r_[np.ones(n_g), np.zeros(n_g), 1, np.ones(n_s)],
        lower=np.zeros(2 * n_g + 1 + n_s),
        upper=np.r_[np.minimum(lim, total), np.full(n_g, np.inf), total, np.full(n_s, 1.0 if relaxed else 0.0)],
        rows=LinearConstraint(a, lb, ub),
    )


def _optimise(p: _Programme) -> np.ndarray | None:
    """Quotas minimising the spread, ties to the first grounding in key order; None when infeasible."""
    lower, upper = p.lower.copy(), p.upper.copy()

    def run(cost: np.ndarray, extra: list[LinearConstraint]):
        res = milp(cost, integrality=p.integrality, bounds=Bounds(lower, upper),
                   constraints=[p.rows, *extra], options=_OPTIONS)
        return None if res.x is None else res

    best = run(p.cost, [])
    if best is None:
        return None
    keep = [LinearConstraint(p.cost, -np.inf, best.fun + _TOL * max(1.0, abs(best.fun)))]  # spread optimal
    x = np.round(best.x[: p.n_g])
    for j in range(p.n_g):  # most to grounding j, given what the earlier ones got (the last one is set)
        if x[j] < upper[j] and j < p.n_g - 1:
            res = run(-np.eye(len(p.cost))[j], keep)
            x = x if res is None else np.round(res.x[: p.n_g])
        lower[j] = upper[j] = x[j]
    return x


def solve(total: int, subtasks: Sequence[str], groundings: Sequence[Grounding], *, relaxed: bool = False,
          minimum: int = MIN_PER_SUBTASK, fixed: dict[str, int] | None = None) -> Allocation | None:
    """The optimal allocation under the model above (strict balance unless `relaxed`; the subtasks in
    `fixed` get exactly their count), or None when it is infeasible."""
    subs = list(dict.fromkeys(subtasks))
    if not subs:
        return Allocation(total=total) if total == 0 else None
    cands = _candidates(subs, groundings)
    x = _optimise(_programme(total, subs, cands, relaxed, minimum, fixed or {}))
    if x is None:
        return None
    return _allocation(total, subs, groundings, {g.key: int(x[j]) for j, g in enumerate(cands)})


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


def propose(total: int, subtasks: list[str], groundings: list[Grounding],
            fixed: dict[str, int] | None = None) -> Allocation:
    """The balanced allocation (the subtasks in `fixed` at their count); when the data cannot give it,
    the balanced request (each subtask its even share or its count, split across its groundings by
    yield) for `diagnose` to explain and `adjust` to repair."""
    fixed = fixed or {}
    solved = solve(total, subtasks, groundings, fixed=fixed)
    if solved is not None:
        return solved
    targets: dict[str, int] = {}
    free = [s for s in subtasks if s not in fixed]
    shares = dict(zip(free, _split(total - sum(fixed.values()), [1.0] * len(free))))
    for sub in subtasks:
        n = fixed.get(sub, shares.get(sub, 0))
        mine = [g for g in groundings if g.subtask == sub]
        targets.update((g.key, k) for g, k in zip(mine, _split(n, [float(limit(g)) for g in mine])))
    return _allocation(total, subtasks, groundings, targets)


def _faults(alloc: Allocation, groundings: Sequence[Grounding], minimum: int) -> list[str]:
    """What is wrong with the allocation itself, whoever wrote it (the solver, a model, a reviewer)."""
    by_key = {g.key: g for g in groundings}
    faults: list[str] = []
    seen: set[str] = set()
    for q in alloc.quotas:
        g = by_key.get(q.grounding)
        if q.grounding in seen:
            faults.append(f"{q.grounding} has more than one quota")
        seen.add(q.grounding)
        if g is None:
            faults.append(f"{q.grounding} asks {q.target} items but is not one of the grounded candidates")
            continue
        if (q.subtask, q.dataset) != (g.subtask, g.plan.dataset):
            faults.append(f"{q.grounding} is labelled subtask {q.subtask} on {q.dataset}, "
                          f"the grounding is subtask {g.subtask} on {g.plan.dataset}")
        if q.target > limit(g):
            faults.append(f"{q.grounding} asks {q.target} items but can yield about {limit(g)}")
    planned = sum(q.target for q in alloc.quotas)
    if planned != alloc.total:
        faults.append(f"quotas sum to {planned}, the benchmark needs {alloc.total}")
    for s in dict.fromkeys(g.subtask for g in groundings):
        got = sum(q.target for q in alloc.quotas if q.grounding in by_key and by_key[q.grounding].subtask == s)
        if got < minimum:
            faults.append(f"subtask {s} gets {got} items, it needs at least {minimum}")
    return faults


def _binding(total: int, subtasks: Sequence[str], groundings: Sequence[Grounding],
             minimum: int) -> Diagnosis:
    """The constraints the data cannot meet for this size, worked out directly (no solver): the even
    split needs floor(N/n) per subtask and ceil(N/n) for N mod n of them."""
    cands = _candidates(subtasks, groundings)
    yields = {s: sum(limit(g) for g in cands if g.subtask == s) for s in subtasks}
    n, available = len(subtasks), sum(yields.values())
    lines: list[str] = []
    missing = max(total - available, 0)
    if missing:
        lines.append(f"the groundings can yield {available} items in all, {total} were asked (short by {missing})")
    min_size = n * minimum
    if total < min_size:
        lines.append(f"{n} subtasks need at least {minimum} item(s) each, {total} were asked "
                     f"(short by {min_size - total})")
    starved = {s: minimum - y for s, y in yields.items() if y < minimum}
    lines += [f"subtask {s} can yield {yields[s]} items, it needs at least {minimum} (short by {k})"
              for s, k in starved.items()]
    short: dict[str, int] = {}
    if n:
        floor, extra = divmod(total, n)
        short = {s: floor - y for s, y in yields.items() if y < floor and s not in starved}
        lines += [f"subtask {s} can yield {yields[s]} items, its share needs {floor} (short by {k})"
                  for s, k in short.items()]
        roomy = sum(y > floor for y in yields.values())
        if extra > roomy and not missing:
            lines.append(f"the even split gives {extra} subtasks {floor + 1} items, only {roomy} can yield "
                         f"that many (short by {extra - roomy})")
    return Diagnosis(total=total, binding=lines, yields=yields, missing=missing, short=short, starved=starved,
                     min_size=min_size)


def examine(alloc: Allocation, groundings: list[Grounding], subtasks: Sequence[str] = (),
            minimum: int = MIN_PER_SUBTASK) -> Diagnosis:
    """The allocation's faults, and the binding constraints behind them, in words and numbers.
    The subtasks are those grounded plus any in `subtasks` (the design's, where one may lack groundings
    altogether); a quota for anything else is a fault of the allocation, not a constraint of the data."""
    found = _binding(alloc.total, list(dict.fromkeys([*subtasks, *(g.subtask for g in groundings)])), groundings,
                     minimum)
    return replace(found, faults=_faults(alloc, groundings, minimum))


def diagnose(alloc: Allocation, groundings: list[Grounding]) -> list[str]:
    """Every reason the allocation cannot be realised, in plain words; empty when it is feasible."""
    return examine(alloc, groundings).problems


def adjust(alloc: Allocation, groundings: list[Grounding], fixed: dict[str, int] | None = None) -> Allocation:
    """Re-solve within the grounded candidates with balance relaxed: the other subtasks take a starved
    one's shortfall. Where the even split is possible it is also the only relaxed answer (a subtask
    below floor(N/n) would be exhausted, forcing more than ceil(N/n) onto subtasks the even split says
    cannot all take it), so a valid balanced request comes back balanced. Beyond what the data yields,
    the most it can, which `diagnose` still rejects. The minimum needs no row here: any relaxed answer
    meets it whenever it can be met. Counts in `fixed` hold, cut to what their subtask's data yields."""
    subtasks = list(dict.fromkeys(g.subtask for g in groundings))
    cands = _candidates(subtasks, groundings)
    reachable = min(alloc.total, capacity(cands))
    # A count the data cannot give is cut to what it yields; the summary shows the count asked.
    capped = {s: min(n, sum(limit(g) for g in cands if g.subtask == s)) for s, n in (fixed or {}).items()}
    solved = solve(reachable, subtasks, groundings, relaxed=True, minimum=0, fixed=capped)
    return Allocation(total=alloc.total, quotas=solved.quotas if solved is not None else [])
