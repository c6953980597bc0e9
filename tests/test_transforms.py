"""Transformation steps on real rows: distractors, option mapping, the registry's refusals, the run store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import mcq_rows, write_dataset

from state.models import DatasetCard, Row, Step
from tools.plans.steps import Draft, StepEnv, StepError, run_step
from tools.pool import Pool
from tools.run_store import RunStore

LABELS = ["Bank Swallow", "Barn Swallow", "Cliff Swallow", "Tree Swallow", "American Crow", "Fish Crow",
          "Blue Jay", "Mallard", "Snow Goose", "Common Loon", "Wood Duck"]


def _env(tmp_path: Path, row: Row, card: DatasetCard | None = None) -> StepEnv:
    pool_dir = tmp_path / "pool"
    write_dataset(pool_dir, "counting-mcq", mcq_rows(6))
    pool = Pool(pool_dir, cache_dir=tmp_path / "cache")
    card = card or pool.card("counting-mcq")
    return StepEnv(pool=pool, card=card, row=row, store=RunStore(tmp_path / "run"), item_id="i1", seed=7)


def test_label_distractors_are_other_labels_of_the_dataset_and_stable(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    write_dataset(pool_dir, "birds", [{"id": str(i), "label": label} for i, label in enumerate(LABELS * 3)])
    pool = Pool(pool_dir, cache_dir=tmp_path / "cache")

    def drawn() -> Draft:
        draft = Draft()
        env = StepEnv(pool=pool, card=pool.card("birds"), row=pool.row("birds", "0"),
                      store=RunStore(tmp_path / "run"), item_id="i1", seed=7)
        run_step(Step(tool="label_choices", params={"n_options": 4}), draft, env)
        return draft

    draft = drawn()
    assert draft.answer_text == "Bank Swallow" and len(set(draft.choices)) == 4 and set(draft.choices) <= set(LABELS)
    assert draft.choices[ord(draft.answer) - ord("A")] == "Bank Swallow"
    assert drawn().choices == draft.choices  # same seed, same item: same options in the same order


@pytest.mark.parametrize(("answer", "letter", "text"), [("B", "B", "3"), ("3", "B", "3"), ("c", "C", "4")])
def test_source_options_accept_letter_or_text_answers(tmp_path: Path, answer: str, letter: str, text: str) -> None:
    row = Row(dataset="counting-mcq", sample_id="q1", values={"question": "After 1?", "options": ["2", "3", "4"],
                                                              "answer": answer})
    draft = Draft()
    run_step(Step(tool="source_choices"), draft, _env(tmp_path, row))
    assert (draft.answer, draft.answer_text) == (letter, text)


def test_answer_outside_the_options_is_refused(tmp_path: Path) -> None:
    row = Row(dataset="counting-mcq", sample_id="q1", values={"options": ["2", "3"], "answer": "seven"})
    with pytest.raises(StepError, match="not among the options"):
        run_step(Step(tool="source_choices"), Draft(), _env(tmp_path, row))


def test_registry_refuses_unknown_tools_and_bad_parameters(tmp_path: Path) -> None:
    row = Row(dataset="counting-mcq", sample_id="q1", values={})
    with pytest.raises(StepError, match="unknown tool 'shell'"):
        run_step(Step(tool="shell", params={"cmd": "rm -rf /"}), Draft(), _env(tmp_path, row))
    with pytest.raises(StepError, match="bad parameters for perturb_image"):
        run_step(Step(tool="perturb_image", params={"ops": [{"op": "explode"}]}), Draft(), _env(tmp_path, row))


def test_run_store_skips_a_torn_last_line_and_never_writes_an_id_twice(tmp_path: Path) -> None:
    from state.models import Item, Source, TransformPlan

    store = RunStore(tmp_path / "run")
    item = Item(id="a", subtask="s", question="q q q", answer="x", answer_text="x", modality="text",
                source=Source(dataset="d", sample_id="1"), plan=TransformPlan(recipe="r", dataset="d"))
    assert store.add_item(item) is True
    with open(store.root / "items.jsonl", "a") as fh:
        fh.write('{"id": "b", "subt')  # a kill mid-write
    fresh = RunStore(tmp_path / "run")
    assert [i["id"] for i in fresh.items()] == ["a"]
    assert fresh.add_item(item) is True  # a replay after a kill: already on disk, not written again
    other_source = item.model_copy(update={"source": Source(dataset="d", sample_id="2")})
    assert fresh.add_item(other_source) is False  # the id is another row's: never written, never counted
    assert fresh.used_sources() == {("d", "1")}
    assert fresh.add_item(item.model_copy(update={"id": "c"})) is True
    assert [i["id"] for i in RunStore(tmp_path / "run").items()] == ["a", "c"]
    assert json.loads((store.root / "items.jsonl").read_text().splitlines()[0])["id"] == "a"
