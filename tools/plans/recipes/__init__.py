"""The recipe library: dataset-level transformation plans the deciders pick from.

A recipe says which rows it can use (roles, answer kind, media), which steps turn such a row into
an item, and how much of the source's evaluation signal survives. Both deciders share it: the
offline policy matches recipes by rules, an LLM policy can reuse and adapt them. Each module
holds the recipes of one kind of source; the order here breaks keyword ties (text first).
"""

from __future__ import annotations

from state.models import Row
from tools.plans.recipes import audio, binary, image, multi_image, omni, overlap, real_audio, text, written
from tools.plans.recipes.core import Recipe
from tools.pool import Pool, PoolError

RECIPES: dict[str, Recipe] = {r.id: r for module in (image, text, audio, overlap, multi_image, binary, real_audio, omni,
                                                            written)
                            for r in module.RECIPES}


VARIANT = "~"  # a sample id "row~k" is the k-th item a recipe makes from one row


def usable_rows(pool: Pool, dataset: str, recipe_id: str) -> list[str]:
    """Sample ids the recipe can use: a row's id, or one id per variant when a row yields several."""
    recipe = RECIPES[recipe_id]
    out = []
    for row in pool.rows(dataset):
        if recipe.usable(row):
            n = recipe.variants(row)
            out += [row.sample_id] if n == 1 else [f"{row.sample_id}{VARIANT}{k}" for k in range(n)]
    return out


def sample_row(pool: Pool, dataset: str, sample_id: str) -> tuple[Row, int]:
    """The row behind a sample id and the variant it names (0 for a plain row id)."""
    base, sep, k = sample_id.rpartition(VARIANT)
    if sep and k.isdigit():
        try:  # a row whose own id ends in "~k" is that row
            return pool.row(dataset, sample_id), 0
        except PoolError:
            return pool.row(dataset, base), int(k)
    return pool.row(dataset, sample_id), 0


__all__ = ["RECIPES", "VARIANT", "Recipe", "sample_row", "usable_rows"]
