"""Which of four images shows a label: grids from label datasets, answers re-read from the cells' rows."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from support import GB_MINI, label_image_rows, needs_gb_mini, write_dataset
from test_overlap import realise_item, recheck

from agents.design import OfflineDesigner
from tools.plans.recipes import RECIPES
from tools.plans.steps import StepError
from tools.pool import DEMO_POOL, Pool

POSITIONS = ["Top left", "Top right", "Bottom left", "Bottom right"]


def _assert_grid(pool: Pool, dataset: str, sample_id: str, run: Path) -> dict:
    item, verdict = realise_item(pool, dataset, "multi-image-label-grid", sample_id, run)
    assert verdict.action == "accept", verdict.reason
    label = pool.row(dataset, sample_id).values["answer"]
    cells = item.metadata["cells"]
    labels = [pool.row(dataset, c["sample_id"]).values["answer"] for c in cells]
    assert len(set(labels)) == 4 and labels.count(label) == 1  # four distinct labels, the asked one once
    assert item.choices == POSITIONS and item.answer_text == POSITIONS[labels.index(label)]
    assert cells[POSITIONS.index(item.answer_text)]["sample_id"] == sample_id and f'"{label}"' in item.question
    assert {s["sample_id"] for s in item.metadata["sources"]} == {c["sample_id"] for c in cells} - {sample_id}
    grid = cv2.imread(str(run / item.image[0]))
    assert grid.shape[:2] == (2 * 256 + 3 * 8, 2 * 256 + 3 * 8)
    return item.model_dump()


@pytest.mark.parametrize(("dataset", "sample_id"), [("shapes", "shape_000"), ("shapes", "shape_005"),
                                                    ("clocks", "clock_003")])
def test_demo_label_sets_make_four_image_grids(tmp_path: Path, dataset: str, sample_id: str) -> None:
    _assert_grid(Pool(DEMO_POOL, cache_dir=tmp_path / "cache"), dataset, sample_id, tmp_path / "run")


@needs_gb_mini
def test_car_brands_make_four_image_grids(tmp_path: Path) -> None:
    pool = Pool(GB_MINI, cache_dir=tmp_path / "cache")
    for row in pool.rows("image-car_brands_recognition")[:2]:
        _assert_grid(pool, "image-car_brands_recognition", row.sample_id, tmp_path / "run")


def test_a_wrong_cell_or_swapped_cells_fail_the_grid_check(tmp_path: Path) -> None:
    pool = Pool(DEMO_POOL, cache_dir=tmp_path / "cache")
    item, verdict = realise_item(pool, "shapes", "multi-image-label-grid", "shape_002", tmp_path / "run")
    assert verdict.action == "accept", verdict.reason
    wrong = next(p for p in POSITIONS if p != item.answer_text)
    assert recheck(item.model_copy(update={"answer_text": wrong}), pool, tmp_path / "run") == {"grid_cells": False}
    swapped = item.model_copy(deep=True)
    cells = swapped.metadata["cells"]
    cells[0]["sample_id"], cells[1]["sample_id"] = cells[1]["sample_id"], cells[0]["sample_id"]
    assert recheck(swapped, pool, tmp_path / "run") == {"grid_cells": False}


def test_too_few_labels_with_images_are_refused(tmp_path: Path) -> None:
    pool_dir = tmp_path / "pool"
    write_dataset(pool_dir, "three", label_image_rows(pool_dir / "three", 6, ["cat", "dog", "owl"]))
    rows = label_image_rows(pool_dir / "four", 8, ["cat", "dog", "owl", "bee"])
    for row in rows[1:]:
        row["image"] = "images/missing.png"  # only one row keeps its picture
    write_dataset(pool_dir, "four", rows)
    pool = Pool(pool_dir, cache_dir=tmp_path / "cache")
    assert "3 labels, recipe needs 4" in RECIPES["multi-image-label-grid"].misfit(pool.card("three"))
    with pytest.raises(StepError, match="images of only 0 other labels"):
        realise_item(pool, "four", "multi-image-label-grid", "im0", tmp_path / "run")


def test_the_offline_designer_picks_the_grid_recipe() -> None:
    proposed = OfflineDesigner().propose("pick which of several images shows")
    assert [s.recipe for s in proposed] == ["multi-image-label-grid"]
