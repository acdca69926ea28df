"""`mcp.authz` decides the same on regorus (sark.native) and on a real OPA server.

Inputs are generated with hypothesis: every role (and unknown ones), every sensitivity
(and malformed ones), times inside and outside business hours (and invalid ones), nested
parameters with secrets at any depth, unregistered and inactive resources. OPA runs as a
server on loopback with the bundle loaded from ``opa/`` (the v1.3 deployment); each input
goes to it over HTTP and to ``PolicyEngine.evaluate`` in-process, and the decisions must be
identical. Any difference is a bug in the policy (a builtin that behaves differently on
the two engines) or in sark-native's conversions.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.services import free_port, opa_binary, unavailable, wait_for

from sark.api.resources import default_bundle_dir

native = pytest.importorskip("sark.native")
if not native.RUST_AVAILABLE:  # pragma: no cover - depends on the build
    pytest.skip("sark-native's extension is not built", allow_module_level=True)

BUNDLE = Path(default_bundle_dir())
RULE = "data.mcp.authz.decision"

ROLES = ["admin", "security_admin", "team_lead", "developer", "viewer", "service", "root"]
LEVELS = ["low", "medium", "high", "critical"]
ACTIONS = [
    "tool:invoke", "server:register", "server:read", "server:update", "server:delete",
    "tool:update", "audit:read", "server:explode",
]  # fmt: skip
REDACTED = ["password", "Password", "API_KEY", "token", "secret", "credentials", "ssn",
            "credit_card", "private_key", "encryption_key"]  # fmt: skip
TIMES = [
    "2026-11-23T10:15:00Z",  # Monday, business hours
    "2026-11-23T20:00:00Z",  # Monday evening
    "2026-11-28T10:00:00Z",  # Saturday
    "2026-11-23T08:59:59-01:00",  # 09:59:59 UTC
    "2026-02-29T10:00:00Z",  # not a day
    "2026-11-23 10:00:00Z",  # not RFC 3339
]

# Non-ASCII look-alikes of redacted names: never redacted, on either engine.
LOOKALIKES = ["pässword", "APİ_KEY", "tokén", "\u017fecret", "SSN\u2028"]
keys = st.one_of(
    st.sampled_from(REDACTED + LOOKALIKES), st.text("abcdefghijklmnopqrstuvwxyz_/~", max_size=8)
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(max_size=12))
parameters = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    """One `mcp.authz` input (docs/policy-input.md), deliberately sometimes malformed."""
    teams = draw(st.sampled_from([["payments"], ["search"], ["payments", "search"], []]))
    subject = {
        "id": draw(st.sampled_from(["u-7", "u-42"])),
        "type": draw(st.sampled_from(["user", "service", "agent"])),
        "role": draw(st.sampled_from([*ROLES, None])),
        "teams": teams,
        "attributes": {},
        "acting_for": None,
    }
    server = {
        "id": "s-1",
        "name": "postgres-mcp",
        "registered": draw(st.booleans()),
        "sensitivity_level": draw(st.sampled_from([*LEVELS, "HIGH", None])),
        "owner": "u-7",
        "team": draw(st.sampled_from(["payments", "search", None])),
        "tags": [],
        "status": draw(st.sampled_from(["active", "active", "decommissioned", None])),
    }
    tool = {
        "name": "run_query",
        "registered": draw(st.booleans()),
        "sensitivity_level": draw(st.sampled_from([*LEVELS, None])),
        "requires_approval": draw(st.booleans()),
        "annotations": {},
    }
    resource: dict[str, Any] = draw(
        st.sampled_from([{"server": server, "tool": tool}, {"server": server}, {}])
    )
    return {
        "subject": subject,
        "action": draw(st.sampled_from(ACTIONS)),
        "resource": resource,
        "parameters": draw(st.one_of(st.dictionaries(keys, parameters, max_size=5), parameters)),
        "context": {
            "time": draw(st.sampled_from(TIMES)),
            "approval_id": draw(st.sampled_from([None, "apr-1"])),
            "request_id": "req-1",
            "gateway": None,
        },
    }


@pytest.fixture(scope="module", name="opa_with_bundle")
def fixture_opa_with_bundle() -> Iterator[httpx.Client]:
    """A private OPA server that loaded ``opa/`` at start, as a v1.3 sidecar would."""
    binary = opa_binary()
    if binary is None:
        unavailable("OPA", "set SARK_TEST_OPA_URL or `go install` the opa binary")
    port = free_port()
    command = [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"]
    process = subprocess.Popen(
        [*command, str(BUNDLE)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_for(lambda: _ready(client), "opa with the bundle")
            yield client
    finally:
        process.kill()
        process.wait(timeout=10)


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/health?bundles").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module", name="engine")
def fixture_engine() -> Any:
    engine = native.PolicyEngine(timeout_ms=5_000)
    engine.load_bundle(str(BUNDLE))
    return engine


def opa_decision(client: httpx.Client, item: dict[str, Any]) -> Any:
    response = client.post("/v1/data/mcp/authz/decision", json={"input": item})
    response.raise_for_status()
    return response.json()["result"]


SEEN: dict[str, set[str]] = {"reasons": set(), "allow": set()}


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(item=inputs())
def test_native_and_opa_agree(opa_with_bundle: httpx.Client, engine: Any, item: Any) -> None:
    expected = opa_decision(opa_with_bundle, item)
    assert engine.evaluate(RULE, item) == expected
    SEEN["reasons"].add(expected["reason"])
    SEEN["allow"].add(str(expected["allow"]))


def test_the_corpus_reached_allows_and_most_deny_reasons() -> None:
    # Runs after the property test (file order): agreement only means something when the
    # corpus reached allows, redactions and the deny reasons.
    if not SEEN["reasons"]:
        pytest.skip("run together with test_native_and_opa_agree")
    assert SEEN["allow"] == {"True", "False"}
    assert len(SEEN["reasons"]) >= 10, SEEN["reasons"]


def test_redaction_at_depth_agrees(opa_with_bundle: httpx.Client, engine: Any) -> None:
    deep: Any = {"token": "t"}
    for level in range(12):
        deep = {f"level{level}": deep, "Password": "p", "rows": [1, {"secret": "s"}]}
    item = {
        "subject": {"id": "u-7", "type": "user", "role": "team_lead", "teams": ["payments"]},
        "action": "tool:invoke",
        "resource": {
            "server": {
                "id": "s-1",
                "name": "pg",
                "registered": True,
                "owner": "u-7",
                "sensitivity_level": "high",
                "team": "payments",
                "status": "active",
            },
            "tool": {
                "name": "q",
                "registered": True,
                "sensitivity_level": "critical",
                "requires_approval": False,
            },
        },
        "parameters": {"top": deep, "ssn": "1"},
        "context": {"time": "2026-11-23T10:15:00Z", "approval_id": "apr-1"},
    }
    expected = opa_decision(opa_with_bundle, item)
    assert expected["allow"] is True
    assert "Password" not in str(expected["filtered_parameters"])
    assert engine.evaluate(RULE, item) == expected


def test_every_role_level_and_time_agrees(opa_with_bundle: httpx.Client, engine: Any) -> None:
    # A grid, not a draw: well-formed invocations of a team's registered tool by every
    # role, at every level and time, so that allows inside business hours and denies
    # outside them are both compared (random draws rarely combine all of that).
    decisions = []
    for role in ROLES:
        for level in LEVELS:
            for when in TIMES:
                item = {
                    "subject": {"id": "u-42", "type": "user", "role": role,
                                "teams": ["payments"], "attributes": {}, "acting_for": None},
                    "action": "tool:invoke",
                    "resource": {
                        "server": {"id": "s-1", "name": "pg", "registered": True,
                                   "sensitivity_level": "medium", "owner": "u-7",
                                   "team": "payments", "tags": [], "status": "active"},
                        "tool": {"name": "q", "registered": True, "sensitivity_level": level,
                                 "requires_approval": False, "annotations": {}},
                    },
                    "parameters": {"q": 1, "nested": {"Password": "p"}},
                    "context": {"time": when, "approval_id": "apr-1"},
                }  # fmt: skip
                expected = opa_decision(opa_with_bundle, item)
                assert engine.evaluate(RULE, item) == expected, item
                decisions.append((level, when, expected))
    assert any(d["allow"] for level, when, d in decisions if level == "high" and when == TIMES[0])
    assert any(d["reason"] == "outside_business_hours" for _, _, d in decisions)
