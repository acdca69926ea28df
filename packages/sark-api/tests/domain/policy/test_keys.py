from __future__ import annotations

from typing import Any

import pytest

from sark.api.domain.policy.inputs import Facts, build_input, unknown_facts
from sark.api.domain.policy.keys import (
    TTL_BY_SENSITIVITY,
    cache_key,
    decision_ttl,
    seconds_to_boundary,
)
from sark.core.models import Principal, PrincipalType, Role

NOON = 1_795_435_200.0  # 2026-11-23T12:00:00Z, a quarter-hour boundary
SERVER = {"id": "s-1", "name": "db", "registered": True, "sensitivity_level": "medium"}


def facts(
    tool_level: str | None = "low", server_level: str = "medium", version: str = "v1"
) -> Facts:
    tool = {"name": "q", "registered": True, "sensitivity_level": tool_level}
    return Facts(server={**SERVER, "sensitivity_level": server_level}, tool=tool, version=version)


def key_of(**changes: Any) -> str:
    principal = changes.pop(
        "principal",
        Principal(id="u-1", type=PrincipalType.USER, role=Role.DEVELOPER, teams=("a", "b")),
    )
    f = changes.pop("facts", facts())
    policy_input = build_input(
        principal,
        changes.pop("action", "tool:invoke"),
        f,
        changes.pop("parameters", {"q": 1}),
        changes.pop("context", {"approval_id": None}),
        now=changes.pop("now", NOON),
        ip=changes.pop("ip", "10.0.0.1"),
        request_id=changes.pop("request_id", "r-1"),
    )
    return cache_key(changes.pop("package", "mcp.authz"), policy_input, f,
                     changes.pop("revision", "rev1"))  # fmt: skip


def test_every_component_changes_the_key() -> None:
    base = key_of()
    variants = {
        "subject id": key_of(principal=Principal(id="u-2", type=PrincipalType.USER,
                                                  role=Role.DEVELOPER, teams=("a", "b"))),
        "role": key_of(principal=Principal(id="u-1", type=PrincipalType.USER,
                                            role=Role.ADMIN, teams=("a", "b"))),
        "teams": key_of(principal=Principal(id="u-1", type=PrincipalType.USER,
                                             role=Role.DEVELOPER, teams=("a",))),
        "type": key_of(principal=Principal(id="u-1", type=PrincipalType.AGENT,
                                            role=Role.DEVELOPER, teams=("a", "b"))),
        "acting_for": key_of(principal=Principal(id="u-1", type=PrincipalType.USER,
                                                  role=Role.DEVELOPER, teams=("a", "b"),
                                                  acting_for="u-9")),
        "attributes": key_of(principal=Principal(id="u-1", type=PrincipalType.USER,
                                                  role=Role.DEVELOPER, teams=("a", "b"),
                                                  attributes={"x": 1})),
        "action": key_of(action="server:read"),
        "facts version": key_of(facts=facts(version="v2")),
        "tool": key_of(facts=Facts(server=SERVER, tool={"name": "other"}, version="v1")),
        "parameters": key_of(parameters={"q": 2}),
        "nested parameters": key_of(parameters={"q": 1, "n": {"password": "x"}}),
        "approval": key_of(context={"approval_id": "A-1"}),
        "gateway": key_of(context={"gateway": "gw-1"}),
        "ip": key_of(ip="10.0.0.2"),
        "revision": key_of(revision="rev2"),
        "package": key_of(package="mcp.gateway"),
    }  # fmt: skip
    for name, variant in variants.items():
        assert variant != base, name
    assert len(set(variants.values())) == len(variants)


def test_time_request_id_and_team_order_do_not_change_the_key() -> None:
    base = key_of()
    assert key_of(now=NOON + 3600) == base
    assert key_of(request_id="r-2") == base
    assert key_of(context={"approval_id": None, "time": "2000-01-01T00:00:00Z"}) == base
    teams_reordered = Principal(
        id="u-1", type=PrincipalType.USER, role=Role.DEVELOPER, teams=("b", "a")
    )
    assert key_of(principal=teams_reordered) == base


@pytest.mark.parametrize(("level", "ttl"), [("low", 1800), ("medium", 300), ("high", 60),
                                             ("critical", 0)])  # fmt: skip
def test_ttl_by_effective_sensitivity(level: str, ttl: int) -> None:
    assert TTL_BY_SENSITIVITY[level] == ttl
    assert decision_ttl(facts(tool_level=level), NOON + 1) == ttl
    # without a tool level the server's applies
    assert decision_ttl(facts(tool_level=None, server_level=level), NOON + 1) == ttl


def test_unknown_resources_and_missing_resource_are_not_cached() -> None:
    assert decision_ttl(unknown_facts("nope", "t"), NOON) == 0
    known_server_unknown_tool = Facts(server=SERVER, tool={"name": "x", "registered": False},
                                      version="v")  # fmt: skip
    assert decision_ttl(known_server_unknown_tool, NOON) == 0
    assert decision_ttl(Facts(server=None, tool=None, version=""), NOON) == 0
    odd_level = facts(tool_level="extreme")
    assert decision_ttl(odd_level, NOON) == 0


def test_time_bound_levels_never_cross_a_quarter_hour() -> None:
    just_before_five = NOON + 5 * 3600 - 10  # 16:59:50Z
    assert seconds_to_boundary(just_before_five) == 10
    assert decision_ttl(facts(tool_level="high"), just_before_five) == 10
    # low and medium are not watched by the business-hours rule: full TTL
    assert decision_ttl(facts(tool_level="low"), just_before_five) == 1800
    # a bundle that watches medium too extends the cap to medium
    bound = frozenset({"high", "critical", "medium"})
    assert decision_ttl(facts(tool_level="medium"), just_before_five, bound) == 10
