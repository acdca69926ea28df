"""Strict validation of what a policy's ``decision`` rule returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class InvalidPolicyOutputError(Exception):
    """The policy answered something that is not a decision."""

    reason = "invalid_policy_output"


@dataclass(frozen=True, slots=True)
class PolicyOutput:
    """A validated decision of a policy."""

    allow: bool
    reason: str
    filtered_parameters: dict[str, Any]
    obligations: tuple[dict[str, Any], ...]


def validate_output(raw: Any) -> PolicyOutput:
    """Check ``raw`` is ``{allow: bool, reason: str, filtered_parameters?, obligations?}``.

    A missing ``filtered_parameters`` means no parameter may pass (empty object): the
    policy did not say which ones are safe.
    """
    if not isinstance(raw, dict):
        kind = "undefined" if raw is None else type(raw).__name__
        msg = f"decision is {kind}, not an object"
        raise InvalidPolicyOutputError(msg)
    allow = raw.get("allow")
    if not isinstance(allow, bool):
        raise InvalidPolicyOutputError("decision.allow is missing or not a boolean")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason:
        raise InvalidPolicyOutputError("decision.reason is missing or not a non-empty string")
    filtered = raw.get("filtered_parameters", {})
    if not isinstance(filtered, dict):
        raise InvalidPolicyOutputError("decision.filtered_parameters is not an object")
    obligations = raw.get("obligations", [])
    if not isinstance(obligations, list) or not all(isinstance(o, dict) for o in obligations):
        raise InvalidPolicyOutputError("decision.obligations is not a list of objects")
    return PolicyOutput(
        allow=allow,
        reason=reason,
        filtered_parameters=filtered if allow else {},
        obligations=tuple(obligations),
    )
