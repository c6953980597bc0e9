"""A step that puts images of distinct labels into one grid and asks which cell shows a given label."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from state.models import Row
from tools.plans.steps.core import Draft, StepEnv, StepError, register, row_answers, row_text
from tools.pool import Pool
from tools.text import norm

POSITIONS = ("Top left", "Top right", "Bottom left", "Bottom right")  # row-major, as image_grid fills cells


def single_label(row: Row) -> str | None:
    answers = row_answers(row)
    return answers[0] if len(answers) == 1 else None


class GridParams(BaseModel):
    cell: int = Field(256, ge=64, le=1024, description="Width and height of each grid cell in pixels.")


@lru_cache(maxsize=32)
def _images_by_label(pool: Pool, dataset: str) -> dict[str, list[Row]]:
    """The dataset's single-label rows with an image, by label: built once, not per item."""
    by_label: dict[str, list[Row]] = {}
    for row in pool.rows(dataset):
        label = single_label(row)
        if label is not None and row.media.get("image"):
            by_label.setdefault(norm(label), []).append(row)
    return by_label


@register("label_grid", GridParams)
def label_grid(draft: Draft, env: StepEnv, p: GridParams) -> list[Path]:
    """The row's image and three images of other labels of the dataset in a 2 x 2 grid, the row's in a
    seeded cell; the options are the cell positions."""
    label = single_label(env.row)
    if label is None or not env.row.media.get("image"):
        raise StepError("row has no single class label and image")
    rng = env.rng(f"label_grid:{draft.metadata.get('repair', 0)}")
    by_label = {k: rows for k, rows in _images_by_label(env.pool, env.card.id).items() if k != norm(label)}
    if len(by_label) < len(POSITIONS) - 1:
        raise StepError(f"{env.card.id} has images of only {len(by_label)} other labels; the grid needs 3")
    cells = [rng.choice(by_label[k]) for k in rng.sample(sorted(by_label), len(POSITIONS) - 1)]
    target = rng.randrange(len(POSITIONS))
    cells.insert(target, env.row)
    grid = env.call(draft, "image_grid", {
        "images": [r.media["image"][0] for r in cells], "rows": 2, "cols": 2, "cell_width": p.cell,
        "cell_height": p.cell, "gap": 8, "background": "#808080", "out": env.media_name(".png")})
    draft.image, draft.modality = [env.store.root / grid.outputs[0]], "image"
    draft.metadata["cells"] = [{"position": pos, "sample_id": r.sample_id, "image": r.media["image"][0]}
                               for pos, r in zip(POSITIONS, cells)]
    draft.metadata["sources"] = [{"dataset": env.card.id, "sample_id": r.sample_id, "license": env.card.license}
                                 for r in cells if r is not env.row]
    task = row_text(env.row, "question")
    asked = f'Asked "{task}", which image has the answer "{label}"?' if task else f'Which image shows "{label}"?'
    draft.question = f"The picture shows four images in a 2 x 2 grid. {asked}"
    draft.choices, draft.answer_text = list(POSITIONS), POSITIONS[target]
    return draft.image
