"""Two-label datasets as two-option questions: yes/no diagnosis on images, two-way text questions."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import GB_MINI, needs_gb_mini, write_dataset
from test_overlap import realise_item, recheck

from agents.design import OfflineDesigner
from tools.plans.recipes import RECIPES
from tools.pool import Pool

LUNG = "image-lung_nodule_diagnosis_vqa"


@needs_gb_mini
def test_lung_nodule_diagnosis_becomes_yes_no_with_its_image(tmp_path: Path) -> None:
    pool = Pool(GB_MINI, cache_dir=tmp_path / "cache")
    card = pool.card(LUNG)
    assert RECIPES["image-label-mcq"].misfit(card) is not None  # four-way label questions refuse it
    assert RECIPES["image-binary-label"].misfit(card) is None
    rows = pool.rows(LUNG)
    for row in [next(r for r in rows if r.values["answer"] == label) for label in ("yes", "no")]:
        item, verdict = realise_item(pool, LUNG, "image-binary-label", row.sample_id, tmp_path / "run")
        assert verdict.action == "accept", verdict.reason
        assert item.choices == ["yes", "no"] and item.answer_text == row.raw["output"]["text"]
        assert item.answer == "AB"[item.choices.index(row.values["answer"])] and len(item.image) == 1
        flipped = next(c for c in item.choices if c != item.answer_text)
        assert recheck(item.model_copy(update={"answer_text": flipped}), pool, tmp_path / "run") == {
            "binary_label": False}


def _two_way_pool(tmp_path: Path) -> Pool:
    rows = [{"id": f"s{i}", "question": q, "label": label} for i, (q, label) in enumerate([
        ("Is the statement 'water boils at 100 C at sea level' true?", "true"),
        ("Is the statement 'the sun orbits the earth' true?", "false"),
        ("Is the statement 'bats are mammals' true?", "true"),
        ("Is the statement 'the picture on the left is red' true?", "false"),  # names an image it lacks
    ])]
    write_dataset(tmp_path / "pool", "claims", rows)
    write_dataset(tmp_path / "pool", "triage", [{"id": f"t{i}", "question": f"Patient {i}: fever and cough?",
                                                  "label": ["low", "medium", "high"][i % 3]} for i in range(6)])
    return Pool(tmp_path / "pool", cache_dir=tmp_path / "cache")


def test_two_way_text_labels_keep_the_card_order_and_skip_image_questions(tmp_path: Path) -> None:
    pool = _two_way_pool(tmp_path)
    recipe = RECIPES["text-binary-label"]
    assert recipe.misfit(pool.card("claims")) is None
    assert "3 labels, recipe needs exactly 2" in recipe.misfit(pool.card("triage"))
    assert not recipe.usable(pool.row("claims", "s3"))
    for sample_id, label in [("s0", "true"), ("s1", "false")]:
        item, verdict = realise_item(pool, "claims", "text-binary-label", sample_id, tmp_path / "run")
        assert verdict.action == "accept", verdict.reason
        assert item.choices == pool.card("claims").label_space and item.answer_text == label
        assert item.image == [] and item.modality == "text"


@pytest.mark.parametrize(("requirement", "recipe"), [("yes/no diagnosis", "image-binary-label"),
                                                     ("decide whether each claim is true or false",
                                                      "text-binary-label")])
def test_the_offline_designer_picks_the_binary_recipes(requirement: str, recipe: str) -> None:
    assert [s.recipe for s in OfflineDesigner().propose(requirement)] == [recipe]
