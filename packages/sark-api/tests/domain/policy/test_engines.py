"""The OPA engine and the router, against real OPA servers."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.services import free_port, start_opa

from sark.api.domain.policy.bundle import Bundle, PolicyBundleError, load_bundle
from sark.api.domain.policy.engines import (
    EngineError,
    EngineRouter,
    EngineTimeoutError,
    EngineUnavailableError,
    NativeEngine,
    NoPolicyEngineError,
    OpaHttpEngine,
    native_module,
)
from sark.api.observability.metrics import Telemetry
from sark.core.flags import RolloutFlag

pytestmark = pytest.mark.opa

NOON = "2026-11-23T12:00:00Z"


def invoke(role: str = "developer", level: str = "medium", **params: Any) -> dict[str, Any]:
    return {
        "subject": {"id": "u-1", "type": "user", "role": role, "teams": [], "attributes": {},
                    "acting_for": None},
        "action": "tool:invoke",
        "resource": {
            "server": {"id": "s", "name": "s", "registered": True, "status": "active",
                       "sensitivity_level": level, "team": "t", "owner": "o", "tags": []},
            "tool": {"name": "q", "registered": True, "sensitivity_level": level,
                     "requires_approval": False, "annotations": {}},
        },
        "parameters": params,
        "context": {"time": NOON, "ip": None, "request_id": None, "approval_id": None,
                    "gateway": None},
    }  # fmt: skip


@asynccontextmanager
async def opa_serving(
    client: httpx.AsyncClient, bundle: Bundle
) -> AsyncIterator[tuple[OpaHttpEngine, str, subprocess.Popen[bytes]]]:
    """A fresh OPA server holding ``bundle``, the engine that pushed it, its URL, its process."""
    with start_opa() as (url, process):
        engine = OpaHttpEngine(client, url, 2000)
        (await engine.stage(bundle)).commit()
        yield engine, url, process


@pytest.fixture(name="client")
async def fixture_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_push_evaluate_and_revision(client: httpx.AsyncClient, bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    async with opa_serving(client, bundle) as (engine, url, _):
        allowed = await engine.evaluate("mcp.authz", invoke())
        assert allowed["allow"] is True
        assert allowed["reason"] == "allowed_by_role"
        denied = await engine.evaluate("mcp.authz", invoke(role="viewer"))
        assert denied == {"allow": False, "reason": "action_not_permitted",
                          "filtered_parameters": {}, "obligations": []}  # fmt: skip
        held = (await client.get(f"{url}/v1/data/sark_meta/revision")).json()["result"]
        assert held == bundle.revision == engine.revision
        assert (await engine.health())["healthy"] is True
        # the data is mounted where OPA's own directory loader puts it
        roles = (await client.get(f"{url}/v1/data/data/mcp/authz/roles")).json()["result"]
        assert "developer" in roles


async def test_nested_sensitive_parameters_are_filtered(
    client: httpx.AsyncClient, opa_url: str, bundle_dir: Path
) -> None:
    engine = OpaHttpEngine(client, opa_url, 2000)
    (await engine.stage(load_bundle(bundle_dir))).commit()
    result = await engine.evaluate(
        "mcp.authz",
        invoke(role="team_lead", level="high", q="x", auth={"Password": "p", "user": "u"}),
    )
    # team_lead of another team: high is denied; as own team it is allowed and filtered
    assert result["allow"] is False
    own = invoke(role="team_lead", level="high", q="x", auth={"Password": "p", "user": "u"})
    own["subject"]["teams"] = ["t"]
    result = await engine.evaluate("mcp.authz", own)
    assert result["allow"] is True
    assert result["filtered_parameters"] == {"q": "x", "auth": {"user": "u"}}
    assert result["obligations"] == [{"type": "redacted_parameters", "paths": ["/auth/Password"]}]


async def test_bad_bundle_is_rejected_and_the_old_one_keeps_serving(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    good = load_bundle(bundle_dir)
    async with opa_serving(client, good) as (engine, url, _):
        policy = bundle_dir / "policies" / "authz" / "authz.rego"
        policy.write_text(policy.read_text() + "\nbroken := {\n")
        with pytest.raises(PolicyBundleError, match="OPA rejected"):
            await engine.stage(load_bundle(bundle_dir))
        assert engine.revision == good.revision
        assert (await engine.evaluate("mcp.authz", invoke()))["allow"] is True
        held = (await client.get(f"{url}/v1/data/sark_meta/revision")).json()["result"]
        assert held == good.revision


async def test_failed_reload_restores_previous_modules(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    good = load_bundle(bundle_dir)
    async with opa_serving(client, good) as (engine, url, _):
        # a second module that is fine, then a data file OPA cannot take
        (bundle_dir / "policies" / "extra.rego").write_text("package extra\n\nx := 1\n")
        changed = load_bundle(bundle_dir)
        staged = await engine.stage(changed)
        assert (await client.get(f"{url}/v1/data/extra/x")).json()["result"] == 1
        await staged.abort()
        assert (await client.get(f"{url}/v1/data/extra/x")).json() == {}
        held = (await client.get(f"{url}/v1/data/sark_meta/revision")).json()["result"]
        assert held == good.revision


async def test_opa_that_lost_its_policies_gets_them_again(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    bundle = load_bundle(bundle_dir)
    async with opa_serving(client, bundle) as (engine, url, _):
        for module in bundle.modules:
            await client.delete(f"{url}/v1/policies/sark/{module}")
        result = await engine.evaluate("mcp.authz", invoke())
        assert result["allow"] is True


async def test_a_half_pushed_bundle_gives_no_decision_rather_than_a_wrong_one(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    """OPA restarted and another worker has pushed the modules but not yet the data."""
    bundle = load_bundle(bundle_dir)
    async with opa_serving(client, bundle) as (engine, url, _):
        await client.delete(f"{url}/v1/policies/sark-guard/mcp.authz")
        for mount in bundle.data_document():
            await client.delete(f"{url}/v1/data/{mount}")
        body = {"input": invoke()}
        unguarded = await client.post(f"{url}/v1/data/mcp/authz/decision", json=body)
        assert unguarded.json()["result"]["reason"] == "unknown_action"  # policy without data
        guarded = await client.post(f"{url}/v1/data/sark_guard/mcp/authz/decision", json=body)
        assert "result" not in guarded.json()
        # The engine sees "undefined", pushes the whole bundle again and asks again.
        result = await engine.evaluate("mcp.authz", invoke())
        assert result["allow"] is True


async def test_opa_down_at_start_gets_the_bundle_on_first_use(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    bundle = load_bundle(bundle_dir)
    with start_opa() as (url, _):
        engine = OpaHttpEngine(client, url, 2000)
        await engine.adopt(bundle)  # as if OPA had been down when SARK started
        assert (await engine.health())["healthy"] is False
        assert (await engine.evaluate("mcp.authz", invoke()))["allow"] is True
        assert (await engine.health())["healthy"] is True


async def test_opa_stopped_is_an_unavailable_engine(
    client: httpx.AsyncClient, bundle_dir: Path
) -> None:
    async with opa_serving(client, load_bundle(bundle_dir)) as (engine, _, process):
        process.kill()
        process.wait()
        with pytest.raises(EngineUnavailableError) as caught:
            await engine.evaluate("mcp.authz", invoke())
        assert caught.value.reason == "engine_error:opa_unavailable"
        assert (await engine.health())["healthy"] is False


async def test_slow_opa_is_a_timeout(client: httpx.AsyncClient) -> None:
    # A listener that accepts connections and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        engine = OpaHttpEngine(client, f"http://127.0.0.1:{silent.getsockname()[1]}", 50)
        with pytest.raises(EngineTimeoutError) as caught:
            await engine.evaluate("mcp.authz", invoke())
        assert caught.value.reason == "engine_timeout"


# --------------------------------------------------------------------------- router


def flag_of(**kw: Any) -> RolloutFlag:
    return RolloutFlag(**kw)


def test_router_without_engines_names_the_problem() -> None:
    router = EngineRouter(None, None, RolloutFlag, Telemetry())
    with pytest.raises(NoPolicyEngineError) as caught:
        router.choose("u-1")
    assert caught.value.reason == "no_policy_engine"


async def test_router_routes_by_stable_bucket(client: httpx.AsyncClient, opa_url: str) -> None:
    first = OpaHttpEngine(client, opa_url, 1000)
    second = OpaHttpEngine(client, opa_url, 1000)
    only = EngineRouter(None, second, RolloutFlag, Telemetry())
    assert only.choose("anyone") == (second, None)
    none_rolled = EngineRouter(first, second, lambda: flag_of(enabled=True), Telemetry())
    assert none_rolled.choose("u-1") == (second, first)
    all_rolled = EngineRouter(
        first, second, lambda: flag_of(enabled=True, rollout_percentage=100), Telemetry()
    )
    assert all_rolled.choose("u-1") == (first, second)
    half = EngineRouter(
        first, second, lambda: flag_of(enabled=True, rollout_percentage=50), Telemetry()
    )
    picks = {half.choose(f"u-{i}")[0] is first for i in range(200)}
    assert picks == {True, False}
    assert all(half.choose("u-7")[0] is half.choose("u-7")[0] for _ in range(5))


async def test_router_falls_back_or_fails_closed(
    client: httpx.AsyncClient, opa_url: str, bundle_dir: Path
) -> None:
    bundle = load_bundle(bundle_dir)
    dead = OpaHttpEngine(client, f"http://127.0.0.1:{free_port()}", 500)
    live = OpaHttpEngine(client, opa_url, 2000)
    telemetry = Telemetry()
    flag = flag_of(enabled=True, rollout_percentage=100, fallback_on_error=True)
    router = EngineRouter(dead, live, lambda: flag, telemetry)
    deferred = await router.load(bundle, lenient=True)
    assert deferred == ["opa"]  # the dead one adopts the bundle for later
    result, engine = await router.evaluate("mcp.authz", invoke(), "u-1")
    assert result["allow"] is True
    assert engine == "opa"
    assert b"implementation_fallback_total" in telemetry.render()
    no_fallback = flag_of(enabled=True, rollout_percentage=100, fallback_on_error=False)
    strict = EngineRouter(dead, live, lambda: no_fallback, Telemetry())
    with pytest.raises(EngineError):
        await strict.evaluate("mcp.authz", invoke(), "u-1")
    with pytest.raises(EngineUnavailableError):
        await router.load(bundle)  # a reload needs every engine


async def test_a_batch_is_answered_in_order_and_falls_back_item_by_item(
    client: httpx.AsyncClient, opa_url: str, bundle_dir: Path
) -> None:
    bundle = load_bundle(bundle_dir)
    live = OpaHttpEngine(client, opa_url, 2000)
    (await live.stage(bundle)).commit()
    inputs = [invoke(), invoke(role="viewer"), invoke(level="critical"),
              invoke(role="admin", level="critical", password="x")]  # fmt: skip
    singles = [await live.evaluate("mcp.authz", i) for i in inputs]
    assert len({json.dumps(s, sort_keys=True) for s in singles}) == 4  # four different answers
    batch = await live.evaluate_many("mcp.authz", inputs)
    assert [result for result, _ in batch] == singles
    assert all(seconds > 0 for _, seconds in batch)
    dead = OpaHttpEngine(client, f"http://127.0.0.1:{free_port()}", 500)
    await dead.adopt(bundle)
    telemetry = Telemetry()
    flag = flag_of(enabled=True, rollout_percentage=100, fallback_on_error=True)
    router = EngineRouter(dead, live, lambda: flag, telemetry)
    assert await router.evaluate_many("mcp.authz", inputs, "u-1") == [(s, "opa") for s in singles]
    assert (
        'implementation_fallback_total{feature="rust_opa",from_implementation="opa",'
        'to_implementation="opa"} 4.0' in telemetry.render().decode()
    )
    no_fallback = flag_of(enabled=True, rollout_percentage=100, fallback_on_error=False)
    strict = EngineRouter(dead, live, lambda: no_fallback, Telemetry())
    failed = await strict.evaluate_many("mcp.authz", inputs, "u-1")
    assert all(isinstance(a, EngineUnavailableError) for a in failed)
    assert len(failed) == 4


async def test_native_batch_matches_single_evaluations(bundle_dir: Path) -> None:
    module = native_module()
    if module is None:
        pytest.skip("sark-native is not installed (tox env `api`)")
    engine = NativeEngine(module, 2000)
    await engine.adopt(load_bundle(bundle_dir))
    try:
        inputs = [invoke(), invoke(role="viewer"), invoke(level="critical"),
                  invoke(role="admin", level="critical", password="x")]  # fmt: skip
        singles = [await engine.evaluate("mcp.authz", i) for i in inputs]
        batch = await engine.evaluate_many("mcp.authz", inputs)
        assert [result for result, _ in batch] == singles
        assert await engine.evaluate_many("mcp.authz", []) == []
        unloaded = NativeEngine(module, 2000)
        failed = await unloaded.evaluate_many("mcp.authz", inputs[:2])
        assert [r.reason for r, _ in failed] == ["engine_error:native_not_loaded"] * 2
    finally:
        engine.close()


async def test_shadow_mode_serves_primary_and_counts_divergence(
    client: httpx.AsyncClient, bundle_dir: Path, tmp_path: Path
) -> None:
    primary_bundle = load_bundle(bundle_dir)
    data = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    document = json.loads(data.read_text())
    document["permissions"]["tool:invoke"][1]["max_sensitivity"] = "low"
    data.write_text(json.dumps(document))
    shadow_bundle = load_bundle(bundle_dir)
    telemetry = Telemetry()
    with start_opa() as (url_a, _), start_opa() as (url_b, _):
        primary = OpaHttpEngine(client, url_a, 2000)
        shadow = OpaHttpEngine(client, url_b, 2000)
        (await primary.stage(primary_bundle)).commit()
        (await shadow.stage(shadow_bundle)).commit()
        flag = flag_of(enabled=True, rollout_percentage=100, shadow=True)
        router = EngineRouter(primary, shadow, lambda: flag, telemetry)
        served, _ = await router.evaluate("mcp.authz", invoke(level="medium"), "u-1")
        assert served["allow"] is True  # the primary's answer
        await router.evaluate("mcp.authz", invoke(level="low"), "u-1")
        await router.drain()
    text = telemetry.render().decode()
    assert "policy_shadow_divergence_total 1.0" in text
    assert 'policy_shadow_evaluations_total{result="same"} 1.0' in text
