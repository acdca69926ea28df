from __future__ import annotations

from typing import Any

import pytest

from sark.api.domain.policy.inputs import (
    Facts,
    build_input,
    proposed_facts,
    rfc3339,
    unknown_facts,
)
from sark.api.domain.policy.output import InvalidPolicyOutputError, validate_output
from sark.core.models import Principal, PrincipalType, Role

SERVER = {"id": "s-1", "name": "db", "registered": True, "sensitivity_level": "low"}


def test_input_has_the_canonical_shape_and_server_side_context() -> None:
    principal = Principal(id="u-1", type=PrincipalType.AGENT, role=Role.DEVELOPER,
                          teams=("t",), attributes={"k": "v"}, acting_for="u-7")  # fmt: skip
    facts = Facts(server=SERVER, tool={"name": "q", "registered": True}, version="1")
    caller_context = {"approval_id": "A-1", "time": "2026-01-01T10:00:00Z", "ip": "1.2.3.4",
                      "request_id": "forged", "gateway": "gw"}  # fmt: skip
    built = build_input(principal, "tool:invoke", facts, {"a": 1}, caller_context,
                        now=1_795_435_200.0, ip="10.0.0.5", request_id="r-9")  # fmt: skip
    assert built == {
        "subject": {"id": "u-1", "type": "agent", "role": "developer", "teams": ["t"],
                    "attributes": {"k": "v"}, "acting_for": "u-7"},
        "action": "tool:invoke",
        "resource": {"server": SERVER, "tool": {"name": "q", "registered": True}},
        "parameters": {"a": 1},
        "context": {"approval_id": "A-1", "gateway": "gw", "time": "2026-11-23T12:00:00Z",
                    "ip": "10.0.0.5", "request_id": "r-9"},
    }  # fmt: skip


def test_missing_parts_have_safe_defaults() -> None:
    principal = Principal(id="u-1", type=PrincipalType.USER, role=Role.VIEWER)
    built = build_input(principal, "audit:read", Facts(None, None, ""), None, None,
                        now=0.0, ip=None, request_id=None)  # fmt: skip
    assert built["resource"] == {}
    assert built["parameters"] == {}
    assert built["context"]["approval_id"] is None
    assert built["context"]["time"] == "1970-01-01T00:00:00Z"


def test_the_time_is_formatted_per_second_whatever_was_asked_before() -> None:
    # rfc3339 keeps the last second it formatted: every answer must still be the exact one
    moments = [0.0, 0.999, 1.0, 59.5, 0.25, 1_795_435_200.9, 1_795_435_200.1, 86_399.99]
    expected = ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z",
                "1970-01-01T00:00:59Z", "1970-01-01T00:00:00Z", "2026-11-23T12:00:00Z",
                "2026-11-23T12:00:00Z", "1970-01-01T23:59:59Z"]  # fmt: skip
    assert [rfc3339(m) for m in moments] == expected


def test_unknown_and_proposed_facts() -> None:
    unknown = unknown_facts("ghost", "t")
    assert unknown.server == {"name": "ghost", "registered": False}
    assert unknown.tool == {"name": "t", "registered": False}
    assert not unknown.known
    proposed = proposed_facts({"name": "new", "sensitivity_level": "low"})
    assert proposed.version != proposed_facts({"name": "new", "sensitivity_level": "high"}).version
    assert not proposed.known
    assert proposed.label == "new"


def test_valid_output_is_accepted() -> None:
    obligation = {"type": "redacted_parameters", "paths": ["/p"]}
    raw = {"allow": True, "reason": "allowed_by_role", "filtered_parameters": {"a": 1},
           "obligations": [obligation]}  # fmt: skip
    out = validate_output(raw)
    assert out.allow is True
    assert out.filtered_parameters == {"a": 1}
    assert out.obligations == ({"type": "redacted_parameters", "paths": ["/p"]},)
    bare = validate_output({"allow": True, "reason": "ok"})
    assert bare.filtered_parameters == {}
    assert bare.obligations == ()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "allow",
        {"reason": "x"},
        {"allow": "true", "reason": "x"},
        {"allow": 1, "reason": "x"},
        {"allow": True},
        {"allow": True, "reason": ""},
        {"allow": True, "reason": 3},
        {"allow": True, "reason": "x", "filtered_parameters": []},
        {"allow": True, "reason": "x", "obligations": {}},
        {"allow": True, "reason": "x", "obligations": ["x"]},
    ],
)
def test_malformed_output_is_rejected(raw: Any) -> None:
    with pytest.raises(InvalidPolicyOutputError):
        validate_output(raw)


def test_deny_never_carries_parameters() -> None:
    out = validate_output({"allow": False, "reason": "no", "filtered_parameters": {"a": 1}})
    assert out.filtered_parameters == {}
