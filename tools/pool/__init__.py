"""The dataset pool: discovery over two layouts, normalised rows, deterministic cards, card search."""

from tools.pool.pool import DEMO_POOL, Pool
from tools.pool.source import PoolError

__all__ = ["DEMO_POOL", "Pool", "PoolError"]
