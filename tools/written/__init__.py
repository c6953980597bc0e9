"""LLM tools: items written by a model, registered beside the pure tools (tools.registry) with typed
parameters, one structured call each, and a check of what came back. One module per family."""
