"""Everything an agent calls that is not a decision: the pool, transformation tools, media probes."""
