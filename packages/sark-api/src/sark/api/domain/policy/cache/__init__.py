"""Decision caches: in-process LRU + TTL (Python or native), Redis as shared L2."""

from sark.api.domain.policy.cache.memory import MemoryCache, NativeCache
from sark.api.domain.policy.cache.protocol import CachedDecision, DecisionCache
from sark.api.domain.policy.cache.redis import RedisCache
from sark.api.domain.policy.cache.tiered import TieredCache

__all__ = [
    "CachedDecision",
    "DecisionCache",
    "MemoryCache",
    "NativeCache",
    "RedisCache",
    "TieredCache",
]
