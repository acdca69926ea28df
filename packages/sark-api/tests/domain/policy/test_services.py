"""DecisionService on a real catalog (both databases) and a real OPA server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import make_settings
from tests.support.services import start_opa

from sark.api.domain.policy.bundle import PolicyBundleError
from sark.api.domain.policy.services import DecisionRequest
from sark.api.runtime import Runtime
from sark.core.errors import DependencyUnavailableError

from .conftest import RecordingSink, add_server, principal, start_runtime, stop_runtime

pytestmark = pytest.mark.opa


@asynccontextmanager
async def own_opa(
    tmp_path: Path, database_url: str, bundle_dir: Path, env: dict[str, str]
) -> AsyncIterator[tuple[Runtime, RecordingSink, subprocess.Popen[bytes]]]:
    """A seeded runtime deciding on an OPA server of its own (the test may kill it)."""
    with start_opa() as (url, process):
        env = {"SARK_DATABASE_URL": database_url, "SARK_OPA_URL": url,
               "SARK_POLICY_PATH": str(bundle_dir), **env}  # fmt: skip
        runtime, sink = await start_runtime(make_settings(tmp_path, env))
        try:
            await seed(runtime)
            yield runtime, sink, process
        finally:
            await stop_runtime(runtime)


async def seed(runtime: Runtime) -> None:
    await add_server(runtime, "payments-db", "medium",
                     {"lookup": "low", "query": "medium", "admin_sql": "high", "wipe": "critical"},
                     team="payments", owner="u-owner")  # fmt: skip


async def test_allow_and_deny_follow_the_policy(opa_runtime: tuple[Runtime, RecordingSink]) -> None:
    runtime, sink = opa_runtime
    await seed(runtime)
    decide = runtime.decisions.decide
    dev = principal("developer")
    allowed = await decide(dev, "tool:invoke", server="payments-db", tool="query",
                           parameters={"sql": "select 1"})  # fmt: skip
    assert (allowed.allow, allowed.reason, allowed.engine) == (True, "allowed_by_role", "opa")
    assert allowed.filtered_parameters == {"sql": "select 1"}
    assert allowed.cache_ttl == 300
    assert allowed.policy_revision == runtime.decisions.revision != ""
    high = await decide(dev, "tool:invoke", server="payments-db", tool="admin_sql")
    assert (high.allow, high.reason) == (False, "insufficient_role_for_sensitivity")
    viewer = await decide(principal("viewer"), "tool:invoke", server="payments-db", tool="lookup")
    assert (viewer.allow, viewer.reason) == (False, "action_not_permitted")
    unknown = await decide(dev, "tool:invoke", server="ghost", tool="x")
    assert (unknown.allow, unknown.reason, unknown.cache_ttl) == (False, "unknown_server", 0)
    unknown_tool = await decide(dev, "tool:invoke", server="payments-db", tool="nope")
    assert unknown_tool.reason == "unknown_tool"
    # each decision audited once, with its own decision id
    audited = sink.decisions()
    assert [e.decision_id for e in audited] == [
        d.decision_id for d in (allowed, high, viewer, unknown, unknown_tool)
    ]
    first = audited[0]
    assert first.resource == "payments-db/query"
    assert (first.allow, first.engine, first.principal_id) == (True, "opa", "u-1")
    assert first.details["cache"] == "miss"
    assert first.policy_revision == allowed.policy_revision


async def test_cache_hit_is_audited_with_a_fresh_decision_id(
    opa_runtime: tuple[Runtime, RecordingSink],
) -> None:
    runtime, sink = opa_runtime
    await seed(runtime)
    dev = principal("developer")
    first = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db", tool="lookup")
    second = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db", tool="lookup")
    assert first.allow
    assert second.allow
    assert first.decision_id != second.decision_id
    assert 0 < second.cache_ttl <= first.cache_ttl == 1800
    assert [e.details["cache"] for e in sink.decisions()] == ["miss", "hit"]
    other_params = await runtime.decisions.decide(
        dev, "tool:invoke", server="payments-db", tool="lookup", parameters={"x": 1}
    )
    assert sink.decisions()[-1].details["cache"] == "miss"
    assert other_params.allow
    critical = principal("admin")
    for _ in range(2):
        await runtime.decisions.decide(critical, "tool:invoke", server="payments-db", tool="wipe",
                                       context={"approval_id": "A-1"})  # fmt: skip
    assert [e.details["cache"] for e in sink.decisions()[-2:]] == ["bypass", "bypass"]


async def test_catalog_change_invalidates_through_the_fact_version(
    opa_runtime: tuple[Runtime, RecordingSink],
) -> None:
    runtime, _ = opa_runtime
    await seed(runtime)
    dev = principal("developer")
    before = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db", tool="query")
    assert before.allow
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import AsyncSession

    from sark.api.domain.catalog.models import Server, Tool

    async with AsyncSession(runtime.engine) as session:
        await session.execute(update(Tool).where(Tool.name == "query")
                              .values(sensitivity_override="high"))  # fmt: skip
        await session.execute(update(Server).values(version=Server.version + 1))
        await session.commit()
    await runtime.catalog.refresh()
    after = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db", tool="query")
    assert (after.allow, after.reason) == (False, "insufficient_role_for_sensitivity")


async def test_nested_parameters_are_filtered_and_reported(
    opa_runtime: tuple[Runtime, RecordingSink], bundle_dir: Path
) -> None:
    runtime, sink = opa_runtime
    await seed(runtime)
    always_open(bundle_dir)  # business hours all day, every day: the test ignores the clock
    await runtime.decisions.reload()
    lead = principal("team_lead", teams=["payments"])
    params = {"sql": "x", "conn": {"password": "p", "host": "h", "nested": [{"TOKEN": "t"}]}}
    decision = await runtime.decisions.decide(
        lead, "tool:invoke", server="payments-db", tool="admin_sql", parameters=params
    )
    assert (decision.allow, decision.reason) == (True, "allowed_for_own_team")
    assert decision.filtered_parameters == {"sql": "x", "conn": {"host": "h", "nested": [{}]}}
    assert sink.decisions()[-1].details["filtered"] == ["/conn/nested/0/TOKEN", "/conn/password"]
    assert sink.decisions()[-1].decision_id == decision.decision_id


async def test_caller_cannot_choose_the_time(
    opa_runtime: tuple[Runtime, RecordingSink], bundle_dir: Path
) -> None:
    runtime, _ = opa_runtime
    await seed(runtime)
    never_open(bundle_dir)
    await runtime.decisions.reload()
    lead = principal("team_lead", teams=["payments"])
    decision = await runtime.decisions.decide(
        lead, "tool:invoke", server="payments-db", tool="admin_sql",
        context={"time": "2026-11-23T12:00:00Z"},  # a Monday noon, claimed by the caller
    )  # fmt: skip
    assert (decision.allow, decision.reason) == (False, "outside_business_hours")


def _hours(bundle_dir: Path, **hours: object) -> None:
    path = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    document = json.loads(path.read_text())
    document["business_hours"].update(hours)
    path.write_text(json.dumps(document))


def always_open(bundle_dir: Path) -> None:
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    _hours(bundle_dir, start_hour=0, end_hour=24, weekdays=days)


def never_open(bundle_dir: Path) -> None:
    _hours(bundle_dir, start_hour=0, end_hour=0)


async def test_decide_many_resolves_each_resource_once(
    opa_runtime: tuple[Runtime, RecordingSink],
) -> None:
    runtime, sink = opa_runtime
    await seed(runtime)
    items = [
        DecisionRequest(action="server:read", server="payments-db"),
        DecisionRequest(action="tool:invoke", server="payments-db", tool="lookup"),
        DecisionRequest(action="tool:invoke", server="ghost", tool="x"),
        DecisionRequest(action="server:register",
                        proposed_server={"name": "new", "sensitivity_level": "high",
                                         "team": "payments"}),
    ]  # fmt: skip
    results = await runtime.decisions.decide_many(principal("developer"), items)
    assert [(d.allow, d.reason) for d in results] == [
        (True, "allowed_by_role"),
        (True, "allowed_by_role"),
        (False, "unknown_server"),
        (False, "insufficient_role_for_sensitivity"),
    ]
    assert len(sink.decisions()) == 4


CACHE_RESULTS = ("hit", "miss", "bypass")


async def test_decide_many_answers_hits_at_once_and_misses_in_one_engine_batch(
    opa_runtime: tuple[Runtime, RecordingSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, sink = opa_runtime
    await seed(runtime)
    dev = principal("developer")
    warm = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db", tool="lookup")
    engine = runtime.decisions.router.opa
    assert engine is not None
    batches: list[int] = []
    evaluate_many = engine.evaluate_many

    async def counted(package: str, inputs: Any) -> Any:
        batches.append(len(inputs))
        return await evaluate_many(package, inputs)

    monkeypatch.setattr(engine, "evaluate_many", counted)
    registry = runtime.telemetry.registry

    def counts() -> dict[str, float]:
        cache = "sark_decision_cache_requests_total"
        found = {r: registry.get_sample_value(cache, {"result": r}) for r in CACHE_RESULTS}
        for result in ("allow", "deny"):
            labels = {"result": result, "engine": "opa"}
            found[result] = registry.get_sample_value("sark_decisions_total", labels)
        return {k: float(v or 0.0) for k, v in found.items()}

    before = counts()
    items = [
        DecisionRequest(action="tool:invoke", server="payments-db", tool="query"),
        DecisionRequest(action="tool:invoke", server="payments-db", tool="lookup"),  # cached
        DecisionRequest(action="tool:invoke", server="payments-db", tool="wipe"),
        DecisionRequest(action="tool:invoke", server="ghost", tool="x"),
    ]
    results = await runtime.decisions.decide_many(dev, items)
    assert [(d.allow, d.reason) for d in results] == [
        (True, "allowed_by_role"),
        (True, warm.reason),
        (False, "insufficient_role_for_sensitivity"),
        (False, "unknown_server"),
    ]
    assert batches == [3]  # the three misses, one engine call
    assert results[1].decision_id != warm.decision_id
    audited = {e.decision_id: e.details["cache"] for e in sink.decisions()}
    assert [audited[d.decision_id] for d in results] == ["miss", "hit", "bypass", "bypass"]
    # a batch bumps each counter once per outcome, by the number of decisions
    after = counts()
    assert {k: after[k] - before[k] for k in after} == {
        "hit": 1, "miss": 1, "bypass": 2, "allow": 2, "deny": 2,
    }  # fmt: skip


async def test_decide_many_denies_each_item_the_engine_could_not_answer(
    tmp_path: Path, database_url: str, bundle_dir: Path
) -> None:
    no_fallback = {"SARK_RUST_OPA_FALLBACK_ON_ERROR": "0"}
    async with own_opa(tmp_path, database_url, bundle_dir, no_fallback) as (runtime, sink, opa):
        dev = principal("developer")
        cached = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db",
                                                tool="lookup")  # fmt: skip
        opa.kill()
        opa.wait()
        items = [DecisionRequest(action="tool:invoke", server="payments-db", tool=t)
                 for t in ("query", "lookup", "admin_sql")]  # fmt: skip
        results = await runtime.decisions.decide_many(dev, items)
        assert [(d.allow, d.reason) for d in results] == [
            (False, "engine_error:opa_unavailable"),
            (True, cached.reason),  # answered from the cache, no engine needed
            (False, "engine_error:opa_unavailable"),
        ]
        assert len(sink.decisions()) == 4


async def test_opa_killed_mid_run_denies_with_the_engine_reason(
    tmp_path: Path, database_url: str, bundle_dir: Path
) -> None:
    env = {"SARK_DECISION_CACHE_ENABLED": "false",
           "SARK_RUST_OPA_FALLBACK_ON_ERROR": "0"}  # no fallback to the native engine  # fmt: skip
    async with own_opa(tmp_path, database_url, bundle_dir, env) as (runtime, sink, opa):
        dev = principal("developer")
        ok = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db",
                                            tool="lookup")  # fmt: skip
        assert ok.allow
        opa.kill()
        opa.wait()
        for _ in range(3):
            denied = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db",
                                                    tool="lookup")  # fmt: skip
            assert (denied.allow, denied.reason) == (False, "engine_error:opa_unavailable")
            assert denied.engine == "none"
        assert len(sink.decisions()) == 4
        assert all(e.decision_id for e in sink.decisions())
        assert sink.decisions()[-1].reason == "engine_error:opa_unavailable"
        with pytest.raises(DependencyUnavailableError):
            await runtime.decisions.reload()
        text = runtime.telemetry.render().decode()
        assert 'sark_decision_failures_total{reason="engine_error:opa_unavailable"} 3.0' in text


async def test_opa_killed_with_fallback_on_error_the_native_engine_answers(
    tmp_path: Path, database_url: str, bundle_dir: Path
) -> None:
    pytest.importorskip(
        "sark.native._native", reason="sark-native (the compiled extension) is not installed"
    )
    env = {"SARK_DECISION_CACHE_ENABLED": "false", "SARK_RUST_OPA_FALLBACK_ON_ERROR": "true"}
    async with own_opa(tmp_path, database_url, bundle_dir, env) as (runtime, _, opa):
        dev = principal("developer")
        first = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db",
                                               tool="lookup")  # fmt: skip
        assert (first.allow, first.engine) == (True, "opa")
        opa.kill()
        opa.wait()
        served = await runtime.decisions.decide(dev, "tool:invoke", server="payments-db",
                                                tool="lookup")  # fmt: skip
        assert (served.allow, served.reason, served.engine) == (True, first.reason, "native")
        viewer = principal("viewer")
        denied = await runtime.decisions.decide(viewer, "tool:invoke", server="payments-db",
                                                tool="lookup")  # fmt: skip
        assert not denied.allow
        assert denied.engine == "native"
        text = runtime.telemetry.render().decode()
        assert (
            'implementation_fallback_total{feature="rust_opa",'
            'from_implementation="opa",to_implementation="rust"} 2.0' in text
        )


async def test_no_engine_denies_everything(
    settings_no_engine: tuple[Runtime, RecordingSink],
) -> None:
    runtime, sink = settings_no_engine
    decision = await runtime.decisions.decide(principal("admin"), "audit:read")
    assert (decision.allow, decision.reason, decision.engine) == (False, "no_policy_engine", "none")
    assert runtime.decisions.revision  # the bundle was still read from disk
    assert sink.decisions()[0].reason == "no_policy_engine"


@pytest.fixture(name="settings_no_engine")
async def fixture_settings_no_engine(  # type: ignore[no-untyped-def]
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    import sys

    # Make sark.native unimportable (it may be installed) so no engine is configured.
    monkeypatch.setitem(sys.modules, "sark.native", None)
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": database_url})
    runtime, sink = await start_runtime(settings)
    try:
        yield runtime, sink
    finally:
        await stop_runtime(runtime)


async def test_reload_swaps_revision_and_rejects_a_broken_bundle(
    opa_runtime: tuple[Runtime, RecordingSink], bundle_dir: Path
) -> None:
    runtime, _ = opa_runtime
    await seed(runtime)
    old = runtime.decisions.revision
    data = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    data.write_text(data.read_text().replace('"allow_unregistered": false',
                                             '"allow_unregistered": true'))  # fmt: skip
    bundle = await runtime.decisions.reload()
    assert bundle.revision != old
    assert runtime.decisions.revision == bundle.revision
    decision = await runtime.decisions.decide(principal("developer"), "server:read", server="x")
    assert decision.policy_revision == bundle.revision
    policy = bundle_dir / "policies" / "authz" / "authz.rego"
    policy.write_text(policy.read_text() + "\nbroken := {\n")
    with pytest.raises(PolicyBundleError):
        await runtime.decisions.reload()
    assert runtime.decisions.revision == bundle.revision
    still = await runtime.decisions.decide(principal("developer"), "tool:invoke",
                                           server="payments-db", tool="lookup")  # fmt: skip
    assert still.allow
