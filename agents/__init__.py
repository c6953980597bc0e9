"""One module per agent: its node functions and its deciders (offline rules now, LLM next)."""
