"""The gateway packages decide the same on OPA and regorus, on a generated corpus.

OPA is the reference (``opa eval`` on the whole bundle, one batch per package); regorus is
sark.native's in-process engine. The Rego unit tests of both packages are also run on
regorus, the way ``sark test-policy --use-rust`` runs them.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.support.services import opa_binary

from sark.api.cli.policy import run_native
from sark.api.resources import default_bundle_dir

BUNDLE = Path(default_bundle_dir())
ROLES = ["admin", "security_admin", "team_lead", "developer", "viewer", "service", "root", None]
LEVELS = ["low", "medium", "high", "critical", "HIGH", None]
TIMES = [
    "2026-11-23T10:00:00Z", "2026-11-23T20:00:00Z", "2026-11-28T10:00:00Z",
    "2026-11-23T08:59:59-01:00", "2026-11-23 10:00:00Z", "2026-02-29T10:00:00Z", 5, None,
]  # fmt: skip
PARAMS: list[Any] = [
    {"q": "x"},
    {"Password": "p", "nested": {"token": "t", "rows": [{"api_key": "k"}, 3]}, "ssn": "1"},
    {"credentials": {"token": "t"}, "a/b": {"~x": 1}},
    [1, 2],
    None,
]


def _opa() -> str:
    found = opa_binary()
    if found is None:
        pytest.skip("OPA is not available: no opa binary on PATH or ~/go/bin")
    return found


def _subject(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["user", "service", "agent"])
    attrs: dict[str, Any] = {}
    if kind == "agent" or rng.random() < 0.2:
        attrs = {
            "trust_level": rng.choice(["trusted", "verified", "untrusted", "godlike", 3, None]),
            "capabilities": rng.choice(
                [["execute", "query", "delegate"], ["query"], [], "execute"]
            ),
            "environment": rng.choice(["production", "staging", None]),
            "delegation_chain": rng.choice(
                [[], ["a"], ["a", "b", "c"], ["a", "b", "c", "d"], None]
            ),
        }
    return {
        "id": rng.choice(["u-7", "u-42", "", None]),
        "type": kind,
        "role": rng.choice(ROLES),
        "teams": rng.choice([["payments"], ["search"], [], None]),
        "attributes": attrs if rng.random() < 0.95 else None,
        "acting_for": rng.choice(["u-1", None, ""]),
    }


def _resource(rng: random.Random) -> dict[str, Any]:
    server = {
        "id": "s-1",
        "name": "pg",
        "registered": rng.random() < 0.85,
        "sensitivity_level": rng.choice(LEVELS),
        "owner": "u-7",
        "team": rng.choice(["payments", None]),
        "tags": [],
        "status": rng.choice(["active", "active", "disabled", None]),
    }
    tool = {
        "name": "t",
        "registered": rng.random() < 0.85,
        "sensitivity_level": rng.choice(LEVELS),
        "requires_approval": rng.random() < 0.1,
        "annotations": {},
    }
    shape = rng.random()
    if shape < 0.6:
        return {"server": server, "tool": tool}
    if shape < 0.9:
        return {"server": server}
    return {}


def corpus(package: str, size: int, seed: int) -> list[dict[str, Any]]:
    """Deterministic inputs for ``package`` covering every branch of its rules."""
    rng = random.Random(seed)
    if package == "mcp.gateway":
        actions = [
            "gateway:tool:invoke", "gateway:tool:discover", "gateway:server:list",
            "gateway:server:info", "gateway:resource:read", "gateway:prompt:get",
            "gateway:audit:write", "gateway:audit:read", "tool:invoke", 7,
        ]  # fmt: skip
    else:
        actions = ["a2a:execute", "a2a:query", "a2a:delegate", "a2a:destroy", None]
    items = []
    for _ in range(size):
        context: dict[str, Any] = {
            "time": rng.choice(TIMES),
            "approval_id": rng.choice([None, "", "apr-1"]),
            "gateway": None,
        }
        if package != "mcp.gateway" or rng.random() < 0.1:
            context["target_agent"] = rng.choice([
                {"id": "a-2", "trust_level": rng.choice(["trusted", "verified", "x", None]),
                 "environment": rng.choice(["production", "staging", None]),
                 "verified": rng.choice([True, False, None])},
                None, "a-2",
            ])  # fmt: skip
        subject = _subject(rng)
        if package != "mcp.gateway" and rng.random() < 0.7:
            # Mostly well-formed agents, so that allows and late denies are reached too.
            subject["type"] = "agent"
            subject["attributes"] = {
                "trust_level": rng.choice(["trusted", "verified", "untrusted"]),
                "capabilities": ["execute", "query", "delegate"],
                "environment": "staging",
                "delegation_chain": rng.choice([[], ["a"], ["a", "b", "c"]]),
            }
            context["target_agent"] = {
                "id": "a-2", "trust_level": "verified", "verified": rng.random() < 0.8,
                "environment": rng.choice(["staging", "staging", "production"]),
            }  # fmt: skip
        items.append({
            "subject": subject,
            "action": rng.choice(actions),
            "resource": _resource(rng),
            "parameters": rng.choice(PARAMS),
            "context": context,
        })  # fmt: skip
    if package == "mcp.gateway":
        items += _hours_grid()
    return items


def _hours_grid() -> list[dict[str, Any]]:
    """Well-formed invocations of every role x level x time, for the paths a random
    draw rarely reaches together: a high tool allowed inside business hours, denied
    outside them. (A regorus miscompilation once made every such call outside hours.)"""
    items = []
    for role, level, when in itertools.product(ROLES, LEVELS, TIMES):
        items.append({
            "subject": {"id": "u-42", "type": "user", "role": role, "teams": ["payments"],
                        "attributes": {}, "acting_for": None},
            "action": "gateway:tool:invoke",
            "resource": {
                "server": {"id": "s-1", "name": "pg", "registered": True,
                           "sensitivity_level": "medium", "owner": "u-7", "team": "payments",
                           "tags": [], "status": "active"},
                "tool": {"name": "t", "registered": True, "sensitivity_level": level,
                         "requires_approval": False, "annotations": {}},
            },
            "parameters": PARAMS[1],
            "context": {"time": when, "approval_id": "apr-1", "gateway": None},
        })  # fmt: skip
    return items


def opa_decisions(package: str, items: list[dict[str, Any]], tmp: Path) -> list[Any]:
    """Decisions of OPA for every item (one ``opa eval``)."""
    batch = tmp / "batch.json"
    batch.write_text(json.dumps({"items": items}))
    query = f"[d | some x in input.items; d := data.{package}.decision with input as x]"
    out = subprocess.run(
        [_opa(), "eval", "-d", str(BUNDLE), "-i", str(batch), "-f", "raw", query],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return list(json.loads(out.stdout))


def _native() -> Any:
    native = pytest.importorskip("sark.native", reason="sark-native is not installed")
    if not native.RUST_AVAILABLE:
        pytest.skip("sark.native._native is not in use (not built, or SARK_NATIVE=0)")
    return native


def regorus_decisions(package: str, items: list[dict[str, Any]]) -> list[Any]:
    """Decisions of regorus (sark.native's engine) for every item."""
    engine = _native().PolicyEngine(timeout_ms=5_000)
    engine.load_bundle(str(BUNDLE))
    return [engine.evaluate(f"data.{package}.decision", item) for item in items]


@pytest.mark.parametrize("package", ["mcp.gateway", "mcp.gateway.a2a"])
def test_native_and_opa_agree_on_the_corpus(package: str, tmp_path: Path) -> None:
    items = corpus(package, 1500, seed=7)
    expected = opa_decisions(package, items, tmp_path)
    actual = regorus_decisions(package, items)
    assert len(actual) == len(expected) == len(items)
    mismatches = [
        (i, e, a) for i, (e, a) in enumerate(zip(expected, actual, strict=True)) if e != a
    ]
    assert mismatches == [], f"{len(mismatches)} divergent decisions, first: {mismatches[0]}"
    reasons = {d["reason"] for d in expected}
    if package == "mcp.gateway":
        grid = len(_hours_grid())  # corpus() appends the grid last
        hours = [
            (item["context"]["time"], decision)
            for item, decision in zip(items[-grid:], expected[-grid:], strict=True)
            if item["resource"]["tool"]["sensitivity_level"] == "high"
        ]
        assert any(d["allow"] and when == "2026-11-23T10:00:00Z" for when, d in hours)
        assert any(d["reason"] == "outside_business_hours" for _, d in hours)
    # The corpus reaches allows and most deny reasons, so agreement means something.
    assert sum(d["allow"] for d in expected) > 50
    assert len(reasons) >= 9, reasons


def test_corpus_is_deterministic() -> None:
    assert corpus("mcp.gateway", 20, seed=1) == corpus("mcp.gateway", 20, seed=1)


def test_rego_unit_tests_pass_on_regorus() -> None:
    _native()
    results = [r for r in run_native(BUNDLE) if r["package"].startswith("mcp.gateway")]
    assert {r["package"] for r in results} == {"mcp.gateway_test", "mcp.gateway.a2a_test"}
    assert len(results) > 30
    failed = [r for r in results if r["result"] != "pass"]
    assert not failed, failed
