"""The recipe library: dataset-level transformation plans the deciders pick from.

A recipe says which rows it can use (roles, answer kind, media), which steps turn such a row into
an item, and how much of the source's evaluation signal survives. Both deciders share it: the
offline policy matches recipes by rules, an LLM policy can reuse and adapt them. Each module
holds the recipes of one kind of source; the order here breaks keyword ties (text first).
"""

from __future__ import annotations

from tools.plans.recipes import audio, image, text
from tools.plans.recipes.core import Recipe
from tools.pool import Pool

RECIPES: dict[str, Recipe] = {r.id: r for module in (image, text, audio) for r in module.RECIPES}


def usable_rows(pool: Pool, dataset: str, recipe_id: str) -> list[str]:
    """Sample ids of the dataset's rows the recipe can use."""
    recipe = RECIPES[recipe_id]
    return [row.sample_id for row in pool.rows(dataset) if recipe.usable(row)]


__all__ = ["RECIPES", "Recipe", "usable_rows"]
