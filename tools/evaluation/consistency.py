"""Consistency of a benchmark's model rankings: models expected to be stronger should score higher.
Kendall's tau and Spearman's rho between the expected order and the measured accuracies, per subtask
and overall (the paper's third check of a benchmark)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scipy.stats import kendalltau, spearmanr


class ConsistencyError(ValueError):
    """The expected order cannot be checked; the message says why and what to do."""


def _pair(order: Sequence[str], scores: Mapping[str, float]) -> dict[str, float | None]:
    ranks = list(range(len(order)))  # weakest first: a higher rank is expected to score higher
    accuracy = [scores[m] for m in order]
    if len(set(accuracy)) < 2:  # every model scored the same: no ranking to compare
        return {"kendall_tau": None, "kendall_p": None, "spearman_rho": None, "spearman_p": None}
    tau, tau_p = kendalltau(ranks, accuracy)
    rho, rho_p = spearmanr(ranks, accuracy)
    return {"kendall_tau": float(tau), "kendall_p": float(tau_p), "spearman_rho": float(rho),
            "spearman_p": None if math.isnan(rho_p) else float(rho_p)}


def consistency(order: Sequence[str], accuracies: Mapping[str, Mapping[str, float]]) -> dict:
    """`order`: models from the one expected weakest to the one expected strongest. `accuracies`: model ->
    {subtask or "overall": accuracy}. Returns tau and rho (with p-values) per subtask and overall, and
    which pairs of neighbours are out of order."""
    if len(order) < 2 or len(set(order)) != len(order):
        raise ConsistencyError(f"--order needs two or more distinct models, weakest first; got {list(order)}")
    missing = [m for m in order if m not in accuracies]
    if missing:
        raise ConsistencyError(f"no eval results for {', '.join(missing)}; run benchagent eval with --model "
                               f"{missing[0]} first (evaluated: {', '.join(sorted(accuracies)) or 'none'})")
    keys = sorted(set.intersection(*(set(accuracies[m]) for m in order)))
    out = {key: _pair(order, {m: accuracies[m][key] for m in order}) for key in keys}
    inverted = [f"{a} > {b}" for a, b in zip(order, order[1:]) if accuracies[a]["overall"] > accuracies[b]["overall"]]
    return {"order": list(order), "per_subtask": {k: v for k, v in out.items() if k != "overall"},
            "overall": out.get("overall"), "inverted_neighbours": inverted}
