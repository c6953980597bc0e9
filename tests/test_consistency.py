"""Ranking consistency: tau and rho between the expected order of models and their accuracies."""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau, spearmanr

from tools.evaluation.consistency import ConsistencyError, consistency

ACC = {"tiny": {"overall": 0.30, "clocks": 0.20, "nli": 0.50},
       "small": {"overall": 0.55, "clocks": 0.60, "nli": 0.40},
       "medium": {"overall": 0.50, "clocks": 0.70, "nli": 0.45},
       "large": {"overall": 0.80, "clocks": 0.90, "nli": 0.45}}
ORDER = ["tiny", "small", "medium", "large"]


def test_tau_and_rho_match_scipy_per_subtask_and_overall() -> None:
    found = consistency(ORDER, ACC)
    for key, result in [("overall", found["overall"]), *found["per_subtask"].items()]:
        scores = [ACC[m][key] for m in ORDER]
        assert result["kendall_tau"] == pytest.approx(kendalltau(range(4), scores)[0])
        assert result["spearman_rho"] == pytest.approx(spearmanr(range(4), scores)[0])
    assert found["per_subtask"]["clocks"]["kendall_tau"] == pytest.approx(1.0)  # strictly in the expected order
    assert found["overall"]["kendall_tau"] == pytest.approx(2 / 3)  # one pair of six swapped
    assert found["inverted_neighbours"] == ["small > medium"]


def test_a_subtask_every_model_ties_on_has_no_ranking() -> None:
    tied = {m: {**v, "nli": 0.5} for m, v in ACC.items()}
    assert consistency(ORDER, tied)["per_subtask"]["nli"]["kendall_tau"] is None


def test_bad_orders_are_refused_with_the_fix() -> None:
    with pytest.raises(ConsistencyError, match="two or more distinct models"):
        consistency(["tiny"], ACC)
    with pytest.raises(ConsistencyError, match="no eval results for huge; run benchagent eval with --model huge"):
        consistency(["tiny", "huge"], ACC)
