"""FlagStore on a real database: validation, persistence, history, audit, precedence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.app import make_settings, migrate

from sark.api.db.engine import create_engine
from sark.api.domain.admin.store import FlagStore
from sark.api.domain.audit.sink import LogAuditSink
from sark.api.observability.metrics import Telemetry
from sark.core.errors import ValidationError
from sark.core.models import AuditEvent, Principal, PrincipalType, Role
from sark.core.settings import Settings

ALICE = Principal(id="u-1", type=PrincipalType.USER, role=Role.ADMIN, name="alice")


class RecordingSink:
    """An AuditSink (the documented seam) that keeps what it receives and logs it too."""

    def __init__(self) -> None:
        self.inner = LogAuditSink()
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)
        self.inner.record(event)


StoreFactory = Callable[..., Any]


@pytest.fixture(name="stores")
async def fixture_stores(
    settings: Settings, database_url: str, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Start FlagStores on one migrated database; ``env`` gives a restart new settings."""
    await migrate(settings)
    opened: list[FlagStore] = []
    engines = []

    async def open_store(env: dict[str, str] | None = None, sink: Any = None) -> FlagStore:
        run_settings = settings
        if env:
            run_settings = make_settings(tmp_path, {"SARK_DATABASE_URL": database_url, **env})
        engine = create_engine(run_settings.database)
        engines.append(engine)
        store = FlagStore(run_settings, engine, Telemetry(), audit=lambda: sink or LogAuditSink())
        await store.start(follow=False)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    for engine in engines:
        await engine.dispose()


@pytest.mark.parametrize(
    ("feature", "change", "message"),
    [
        (
            "rust_fast",
            {"percentage": 5},
            "unknown feature 'rust_fast'; known features: a2a, gateway",
        ),
        ("rust_opa", {"percentage": 101}, "percentage must be an integer from 0 to 100 (got 101)"),
        ("rust_opa", {"percentage": -1}, "percentage must be an integer from 0 to 100 (got -1)"),
        ("rust_cache", {}, "nothing to change"),
        (
            "gateway",
            {"percentage": 50},
            "gateway is an on/off feature: only `enabled` can be changed",
        ),
        ("a2a", {"enabled": True}, "a2a needs gateway"),
    ],
    ids=["unknown", "above-100", "negative", "empty", "toggle-percentage", "a2a-without-gateway"],
)
async def test_bad_changes_are_refused_and_change_nothing(
    stores: StoreFactory, feature: str, change: dict[str, Any], message: str
) -> None:
    store = await stores()
    before = store.current()
    with pytest.raises(ValidationError) as raised:
        await store.update(feature, actor=ALICE, **change)
    assert message in raised.value.detail
    assert store.current() == before
    assert await store.history() == []
    restarted = await stores()
    assert restarted.current() == before


async def test_an_update_persists_across_restart_with_history_and_audit(
    stores: StoreFactory,
) -> None:
    sink = RecordingSink()
    store = await stores(sink=sink)
    assert store.current().rust_opa.rollout_percentage == 0
    previous, new = await store.update("rust_opa", percentage=25, actor=ALICE)
    assert previous.rollout_percentage == 0
    assert (new.enabled, new.rollout_percentage) == (True, 25)  # a percentage turns it on
    assert store.current().rust_opa == new
    await store.update("rust_opa", shadow=True, actor=ALICE, source="cli")

    restarted = await stores()
    assert restarted.current().rust_opa.rollout_percentage == 25
    assert restarted.current().rust_opa.shadow is True
    assert restarted.source_of("rust_opa") == "runtime"
    assert restarted.source_of("rust_cache") == "settings"
    row = restarted.row("rust_opa")
    assert row is not None
    assert (row.version, row.updated_by, row.source) == (2, "alice", "cli")

    history = await restarted.history("rust_opa")
    assert [(h.version, h.action, h.source, h.actor) for h in history] == [
        (2, "update", "cli", "alice"),
        (1, "update", "api", "alice"),
    ]
    assert history[1].old["rollout_percentage"] == 0
    assert history[1].new["rollout_percentage"] == 25

    flag_events = [e for e in sink.events if e.action == "flag.update"]
    assert len(flag_events) == 2
    assert flag_events[0].kind == "admin"
    assert flag_events[0].principal_id == "u-1"
    assert flag_events[0].resource == "feature:rust_opa"
    assert flag_events[0].details["new"]["rollout_percentage"] == 25
    assert flag_events[0].occurred_at > 0


async def test_rollback_sets_zero_percent_and_stops_shadow(stores: StoreFactory) -> None:
    sink = RecordingSink()
    store = await stores(sink=sink)
    await store.update("rust_cache", percentage=50, shadow=True, actor=ALICE)
    previous, new = await store.rollback("rust_cache", ALICE)
    assert (previous.rollout_percentage, previous.shadow) == (50, True)
    assert (new.rollout_percentage, new.shadow) == (0, False)
    assert store.current().rust_cache.rollout_percentage == 0
    assert [e.action for e in sink.events] == ["flag.update", "flag.rollback"]
    assert (await store.history("rust_cache"))[0].action == "rollback"


async def test_a_restart_with_the_same_configuration_keeps_runtime_changes(
    stores: StoreFactory,
) -> None:
    env = {"SARK_RUST_OPA_ENABLED": "true", "SARK_RUST_OPA_ROLLOUT_PCT": "5"}
    store = await stores(env)
    await store.update("rust_opa", percentage=50, actor=ALICE)
    restarted = await stores(env)
    assert restarted.current().rust_opa.rollout_percentage == 50
    assert len(await restarted.history()) == 1  # nothing rewritten at start


async def test_a_restart_with_edited_configuration_lets_the_configuration_win(
    stores: StoreFactory,
) -> None:
    store = await stores({"SARK_RUST_OPA_ROLLOUT_PCT": "5", "SARK_RUST_OPA_ENABLED": "true"})
    await store.update("rust_opa", percentage=50, actor=ALICE)
    # the operator's manual rollback of the guide: edit the environment and restart
    restarted = await stores({"SARK_RUST_OPA_ROLLOUT_PCT": "0", "SARK_RUST_OPA_ENABLED": "true"})
    assert restarted.current().rust_opa.rollout_percentage == 0
    latest = (await restarted.history("rust_opa"))[0]
    assert (latest.action, latest.source, latest.actor) == ("config", "config", "config")
    assert latest.old["rollout_percentage"] == 50
    # and the next restart with that configuration changes nothing more
    again = await stores({"SARK_RUST_OPA_ROLLOUT_PCT": "0", "SARK_RUST_OPA_ENABLED": "true"})
    assert again.current().rust_opa.rollout_percentage == 0
    assert len(await again.history("rust_opa")) == 2


async def test_a_rollback_wins_over_a_configuration_that_raises_the_rollout(
    stores: StoreFactory,
) -> None:
    store = await stores({"SARK_RUST_CACHE_ROLLOUT_PCT": "10", "SARK_RUST_CACHE_ENABLED": "true"})
    await store.rollback("rust_cache", ALICE)
    raised = await stores(
        {
            "SARK_RUST_CACHE_ROLLOUT_PCT": "80",
            "SARK_RUST_CACHE_ENABLED": "true",
            "SARK_RUST_CACHE_MAX_SIZE": "5000",
        }
    )
    flag = raised.current().rust_cache
    assert flag.rollout_percentage == 0  # the rollback stays in force
    assert flag.max_size == 5000  # other fields still follow the configuration
    # an explicit runtime change lifts the rollback
    await raised.update("rust_cache", percentage=20, actor=ALICE)
    assert raised.current().rust_cache.rollout_percentage == 20


async def test_concurrent_writers_never_lose_a_change(stores: StoreFactory) -> None:
    first = await stores()
    second = await stores()  # started before the first writes: its memory is stale
    await first.update("rust_opa", percentage=30, actor=ALICE)
    await second.update("rust_opa", shadow=True, actor=ALICE)
    await first.refresh()
    flag = first.current().rust_opa
    assert (flag.rollout_percentage, flag.shadow) == (30, True)
    assert [h.version for h in await first.history("rust_opa")] == [2, 1]


async def test_rolling_back_the_gateway_rolls_back_a2a_first(stores: StoreFactory) -> None:
    store = await stores()
    await store.update("gateway", enabled=True, actor=ALICE)
    await store.update("a2a", enabled=True, actor=ALICE)
    with pytest.raises(ValidationError, match="a2a needs gateway"):
        await store.update("gateway", enabled=False, actor=ALICE)
    await store.rollback("gateway", ALICE)
    assert not store.current().gateway.enabled
    assert not store.current().a2a.enabled
    actions = [(h.feature, h.action) for h in await store.history()]
    assert actions[:2] == [("gateway", "rollback"), ("a2a", "rollback")]
