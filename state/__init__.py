"""The typed vocabulary every agent shares: value models, the graph state and the run context."""
