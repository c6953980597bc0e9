"""A recipe over image label datasets: which of four images in a grid shows a given label."""

from __future__ import annotations

from pathlib import Path

from state.models import Check, Item, Row, Step
from tools.plans.recipes.core import Recipe, class_labels
from tools.plans.steps.multi_image import POSITIONS
from tools.pool import Pool, PoolError
from tools.quality.item_checks import source_answers


def _grid_check(item: Item, row: Row, pool: Pool, root: Path) -> list[Check]:
    """Each cell's label is read again from its source row: exactly one cell has the asked label, it is
    the answer's cell, and the grid was composed from those rows' images in cell order."""
    cells = item.metadata.get("cells") or []
    card = pool.card(item.source.dataset)
    asked = source_answers(row, card) or set()
    try:
        rows = [pool.row(card.id, c["sample_id"]) for c in cells]
    except (PoolError, KeyError, TypeError) as exc:
        return [Check(name="grid_cells", passed=False, detail=f"cells name a row the pool cannot give: {exc}")]
    labels = [source_answers(r, card) or set() for r in rows]
    hits = [pos for pos, label in zip(POSITIONS, labels) if len(asked) == 1 and label == asked]
    images = [(r.media.get("image") or [None])[0] for r in rows]
    grids = [p for p in item.metadata.get("provenance", []) if p.get("tool") == "image_grid"]
    composed = bool(grids) and grids[-1].get("inputs") == images
    passed = len(cells) == len(POSITIONS) and hits == [item.answer_text] and composed
    return [Check(name="grid_cells", passed=passed,
                  detail=f"cell labels {[sorted(x) for x in labels]}; {sorted(asked)} in {hits}, "
                  f"answer {item.answer_text!r}"
                  + ("" if composed else "; the grid was not composed from these rows' images"))]


RECIPES: list[Recipe] = [
    Recipe(
        id="multi-image-label-grid",
        title="Picking one image among several",
        description="Four images of distinct labels of one dataset are composed into a 2 x 2 grid; the item "
        "asks which cell shows a given label.",
        modality="image",
        skill_in_steps=True,
        keywords=("pick", "several", "multiple", "multi", "many", "four", "among", "grid", "cell", "show",
                  "shows", "compare", "comparison", "locate", "select", "match", "matching", "spot"),
        roles=("answer",),
        answer_kinds=("label",),
        media="image",
        card_check=class_labels,
        steps=lambda card: [Step(tool="label_grid")],
        checks=_grid_check,
        preservation=lambda card: 0.75,
    ),
]
