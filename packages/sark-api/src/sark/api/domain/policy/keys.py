"""Decision-cache keys and lifetimes.

The key is a sha256 over everything the decision depends on except the clock: package,
subject (id, type, role, sorted teams, acting_for, attributes), action, resource ids with
the catalog's fact version, the parameters, the caller's context (approval id, gateway,
ip ...) and the policy revision. Time is left out on purpose; instead the lifetime of a
decision whose sensitivity the business-hours rule watches never crosses the next
quarter-hour boundary (UTC). Every time zone's offset is a multiple of 15 minutes, so
every local hour and day boundary is one of those instants: a decision cached at 16:59
cannot be served at 17:00.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

import msgspec

from sark.api.domain.policy.inputs import Facts

TTL_BY_SENSITIVITY: Final = {"low": 1800, "medium": 300, "high": 60, "critical": 0}
DEFAULT_TIME_BOUND: Final = frozenset({"high", "critical"})
BOUNDARY_SECONDS: Final = 900
_IGNORED_CONTEXT: Final = ("time", "request_id")
_encode = msgspec.json.Encoder(order="sorted").encode


def effective_sensitivity(facts: Facts) -> str | None:
    """The tool's own sensitivity, else its server's (what the policy uses)."""
    for fact in (facts.tool, facts.server):
        if fact is not None and fact.get("sensitivity_level") is not None:
            level = fact["sensitivity_level"]
            return level if isinstance(level, str) else None
    return None


def decision_ttl(facts: Facts, now: float, time_bound: frozenset[str] = DEFAULT_TIME_BOUND) -> int:
    """Seconds a decision about ``facts`` may be cached (0: never)."""
    if not facts.known:
        return 0  # unknown or proposed resources: decided fresh every time
    level = effective_sensitivity(facts)
    ttl = TTL_BY_SENSITIVITY.get(level or "", 0)
    if ttl and level in time_bound:
        ttl = min(ttl, seconds_to_boundary(now))
    return ttl


def seconds_to_boundary(now: float) -> int:
    """Whole seconds left until the next quarter hour (UTC), rounded down."""
    return math.floor(BOUNDARY_SECONDS - (now % BOUNDARY_SECONDS))


def cache_key(package: str, policy_input: dict[str, Any], facts: Facts, revision: str) -> str:
    """The cache key of ``input`` (see the module docstring for what it covers)."""
    subject = policy_input["subject"]
    context = {k: v for k, v in policy_input["context"].items() if k not in _IGNORED_CONTEXT}
    resource = (
        (facts.server or {}).get("id") or (facts.server or {}).get("name"),
        (facts.tool or {}).get("name"),
        facts.version,
    )
    material = _encode(
        (
            package,
            revision,
            subject["id"],
            subject["type"],
            subject["role"],
            sorted(subject["teams"]),
            subject["acting_for"],
            subject["attributes"],
            policy_input["action"],
            resource,
            policy_input["parameters"],
            context,
        )
    )
    return hashlib.sha256(material).hexdigest()
