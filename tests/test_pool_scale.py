"""Per-item work does not grow with the pool: distractors and speech-check decoys come from indexes built
once per dataset, and what an item draws from them is the same design, seed for seed."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from support import write_dataset

from state.models import Step
from tools.plans import distractors
from tools.plans.distractors import AnswerCounts
from tools.plans.steps import Draft, StepEnv, run_step
from tools.plans.steps import text as text_steps
from tools.pool import Pool
from tools.quality.speech_check import decoy_script
from tools.run_store import RunStore
from tools.text import norm, similarity

TURNS = [{"speaker": "A", "text": "What shall we do?"}, {"speaker": "B", "text": "I don't know yet."}]


def _replies(n: int) -> list[str]:
    """`n` replies of eight words from a made-up vocabulary, so no two are near-copies by chance."""
    rng = random.Random(n)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 8))) for _ in range(400)]
    return [" ".join(rng.sample(vocabulary, 8)).capitalize() + "." for _ in range(n)]


def _pool(tmp_path: Path, replies: list[str], name: str = "talk") -> Pool:
    rows = [{"id": f"d{k}", "dialogue": TURNS, "response": r} for k, r in enumerate(replies)]
    write_dataset(tmp_path / "pool", name, rows)
    return Pool(tmp_path / "pool", cache_dir=tmp_path / "cache")


def _choices(pool: Pool, sample_ids: list[str], tmp_path: Path, seed: int = 0) -> list[list[str]]:
    store, card, out = RunStore(tmp_path / "run"), pool.card("talk"), []
    for sample_id in sample_ids:
        draft = Draft(question="Which reply comes next?")
        env = StepEnv(pool=pool, card=card, row=pool.row("talk", sample_id), store=store, item_id=sample_id, seed=seed)
        run_step(Step(tool="response_choices"), draft, env)
        out.append(draft.choices)
    return out


class _Calls(Counter):
    """Counts calls of the functions it wraps."""

    def wrap(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        real = getattr(owner, name)

        def counted(*args, **kwargs):
            self[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def _per_item_calls(tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Calls of everything that could walk the dataset, over 20 items drawn after the first."""
    pool = _pool(tmp_path / str(n), _replies(n))
    _choices(pool, ["d0"], tmp_path)  # the first item builds the dataset's index
    calls = _Calls()
    with monkeypatch.context() as m:
        for owner, name in [(distractors, "norm"), (text_steps, "norm"), (distractors, "similarity"),
                            (distractors, "_draw_set"), (distractors, "AnswerCounts"), (Pool, "rows")]:
            calls.wrap(m, owner, name)
        _choices(pool, [f"d{k}" for k in range(1, 21)], tmp_path)
    return calls


def test_an_items_distractors_cost_the_same_in_a_pool_a_hundred_times_larger(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = _per_item_calls(tmp_path, 60, monkeypatch), _per_item_calls(tmp_path, 6000, monkeypatch)
    for calls in (small, large):
        # No item reads the rows, counts answers or takes the O(answers) draw: replies are about equally
        # frequent, so the rejective draw succeeds; normal forms and similarities are the options' own.
        assert calls["rows"] == calls["AnswerCounts"] == calls["_draw_set"] == 0, calls
        assert calls["norm"] <= 20 and 20 * 6 <= calls["similarity"] <= 20 * 6 * 3, calls


def test_distractors_are_the_same_for_a_seed_and_differ_across_seeds(tmp_path: Path) -> None:
    replies = _replies(500)
    ids = [f"d{k}" for k in range(30)]
    first = _choices(_pool(tmp_path / "a", replies), ids, tmp_path)
    again = _choices(_pool(tmp_path / "b", replies), ids, tmp_path)  # another pool object: its own index
    assert first == again
    assert _choices(_pool(tmp_path / "a", replies), ids, tmp_path, seed=1) != first


def test_distractors_leave_out_the_key_and_its_near_copies(tmp_path: Path) -> None:
    # Every reply has five twins that differ in their last mark: an item holding two would have two keys.
    replies = [reply[:-1] + mark for reply in _replies(40) for mark in (".", "!", "?", "?!", "!!", ";")]
    assert similarity(replies[0], replies[5]) >= distractors.MAX_DISTRACTOR_SIMILARITY > similarity(replies[0],
                                                                                                      replies[6])
    pool = _pool(tmp_path, replies)
    for truth, choices in zip(replies, _choices(pool, [f"d{k}" for k in range(len(replies))], tmp_path)):
        assert len(choices) == 4 and choices.count(truth) == 1
        assert all(similarity(a, b) < distractors.MAX_DISTRACTOR_SIMILARITY
                   for i, a in enumerate(choices) for b in choices[i + 1:]), choices


@pytest.mark.parametrize(("counts", "rejective"), [
    pytest.param({**{f"often {i}": 30 - 5 * i for i in range(5)}, **{f"rare {i}": 1 for i in range(40)}}, True,
                 id="skewed"),
    pytest.param({"dominant": 60, **{f"rare {i}": 2 for i in range(30)}}, False, id="one-in-every-set"),
])
def test_an_items_draw_is_the_conditional_poisson_design(counts: dict[str, int], rejective: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each answer other than the truth is in an item's 3 distractors as often as conditional Poisson
    sampling with the calibrated weights puts it there, by the rejective draw and by its fallback."""
    answers, truth = AnswerCounts(counts), "rare 0"
    fallbacks = _Calls()
    fallbacks.wrap(monkeypatch, distractors, "_draw_set")
    rng, draws = random.Random(3), 6000
    seen = Counter(x for _ in range(draws) for x in answers.others(truth, 3, rng))
    assert bool(fallbacks["_draw_set"] < draws / 100) == rejective, fallbacks
    labels = answers.labels
    weights = np.asarray(distractors._calibrated_weights(tuple(counts[x] for x in labels), 4))
    others = [i for i, x in enumerate(labels) if x != truth]
    expected = distractors._inclusion(weights[others], 3)
    assert truth not in seen
    for i, p in zip(others, expected):
        assert seen[labels[i]] / draws == pytest.approx(p, abs=0.025), labels[i]


def test_answers_are_merged_in_normal_form_keeping_the_first_spelling() -> None:
    answers = AnswerCounts({"Yes.": 2, "No": 1, "yes": 3})
    assert dict(answers) == {"Yes.": 5, "No": 1} and [norm(x) for x in answers.labels] == ["no", "yes"]


def test_decoys_are_the_next_dialogue_found_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    talk = [{"speaker": "A", "text": f"line {k}"} for k in range(2)]
    rows = [{"id": "r0", "dialogue": talk, "response": "a"}, {"id": "r1", "text": "no dialogue", "response": "b"},
            {"id": "r2", "dialogue": talk[::-1], "response": "c"}, {"id": "r3", "text": "none", "response": "d"}]
    write_dataset(tmp_path / "pool", "talk", rows)
    write_dataset(tmp_path / "pool", "alone", [{"id": "s0", "dialogue": talk, "response": "a"}])
    pool = Pool(tmp_path / "pool", cache_dir=tmp_path / "cache")
    decoy_script(pool, pool.row("talk", "r0"))
    reads = _Calls()
    reads.wrap(monkeypatch, Pool, "rows")
    decoys = {r: decoy_script(pool, pool.row("talk", r)) for r in ("r0", "r1", "r2", "r3")}
    assert decoys == {"r0": "line 1 line 0", "r1": "line 1 line 0", "r2": "line 0 line 1", "r3": "line 0 line 1"}
    assert reads["rows"] == 0
    assert decoy_script(pool, pool.row("alone", "s0")) == ""  # no other dialogue to be confused with
