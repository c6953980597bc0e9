"""Accuracy with Wilson 95% intervals, per group and overall, micro (pooled items) and macro (mean of groups)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy.stats import norm

Z95 = float(norm.ppf(0.975))


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(k: int, n: int) -> dict:
    """{"n", "correct", "accuracy", "ci95"}; accuracy None when nothing was scored."""
    low, high = wilson(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "ci95": [low, high]}


def summarise(counts: Mapping[str, tuple[int, int]]) -> dict:
    """Per group (correct, scored) -> per-group accuracy, and overall micro and macro accuracy.

    The macro interval is the mean of the groups' Wilson bounds: a conservative band, as the groups are
    independent samples of different sizes and no single binomial describes their mean."""
    groups = {name: accuracy(k, n) for name, (k, n) in counts.items()}
    scored = [g for g in groups.values() if g["n"]]
    k, n = sum(g["correct"] for g in scored), sum(g["n"] for g in scored)
    macro = {"groups": len(scored),
             "accuracy": sum(g["accuracy"] for g in scored) / len(scored) if scored else None,
             "ci95": [sum(g["ci95"][i] for g in scored) / len(scored) for i in (0, 1)] if scored else [0.0, 1.0]}
    return {"per_subtask": groups, "micro": accuracy(k, n), "macro": macro}
