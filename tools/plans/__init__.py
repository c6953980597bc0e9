"""Plans: the recipe library, the registered plan steps that realise it, and the allocation solver."""
