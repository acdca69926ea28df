"""SIEM forwarders against real collectors on loopback: formats, auth, failure and recovery."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.app import make_settings

from sark.api.domain.audit.forwarders import ForwarderSet, build_forwarders
from sark.api.domain.audit.forwarders.breaker import CircuitState
from sark.api.domain.audit.rows import AuditRow, make_row
from sark.api.domain.audit.spool import Spool
from sark.api.domain.audit.writer import AuditWriter
from sark.api.observability.metrics import Telemetry
from sark.core.errors import ConfigError

from .collector import running_collector
from .conftest import eventually, make_event, sample, stored_numbers

_seq = itertools.count(1)
FAST = {
    "SARK_SIEM_BATCH_SIZE": "10",
    "SARK_SIEM_FLUSH_INTERVAL_MS": "20",
    "SARK_SIEM_RETRY_BACKOFF_MS": "10",
    "SARK_SIEM_RETRY_MAX_BACKOFF_MS": "50",
}


def _rows(count: int) -> list[AuditRow]:
    return [make_row(make_event(n), next(_seq)) for n in range(count)]


def _forwarders(tmp_path: Path, env: dict[str, str], telemetry: Telemetry) -> ForwarderSet:
    settings = make_settings(tmp_path, {**FAST, **env})
    return build_forwarders(settings.siem, telemetry)


async def test_splunk_hec_receives_batched_gzipped_events_with_token(tmp_path: Path) -> None:
    telemetry = Telemetry()
    with running_collector() as collector:
        forwarders = _forwarders(tmp_path, {
            "SARK_SIEM_SPLUNK_URL": collector.url, "SARK_SIEM_SPLUNK_TOKEN": "hec-token-1",
            "SARK_SIEM_SPLUNK_INDEX": "security",
        }, telemetry)  # fmt: skip
        forwarders.start()
        rows = _rows(25)
        forwarders.offer(rows)
        await eventually(
            lambda: sum(len(r.concatenated()) for r in collector.received) == 25, "events"
        )
        await forwarders.close(5)
    assert [len(r.concatenated()) for r in collector.received] == [10, 10, 5]
    for request in collector.received:
        assert request.path == "/services/collector/event"
        assert request.headers["authorization"] == "Splunk hec-token-1"
        assert request.headers["content-encoding"] == "gzip"
        assert request.raw[:2] == b"\x1f\x8b"
    events = [obj for r in collector.received for obj in r.concatenated()]
    assert [e["event"]["id"] for e in events] == [row.id for row in rows]
    first = events[0]
    assert first["sourcetype"] == "sark:audit"
    assert first["index"] == "security"
    assert first["time"] == rows[0].occurred_at
    assert first["event"]["action"] == "tool:invoke"
    assert first["event"]["occurred_at"].endswith("Z")
    labels = {"forwarder": "splunk"}
    assert sample(telemetry, "sark_siem_events_sent_total", labels) == 25
    assert sample(telemetry, "sark_siem_failures_total", labels) == 0


async def test_datadog_receives_log_objects_with_api_key(tmp_path: Path) -> None:
    telemetry = Telemetry()
    with running_collector() as collector:
        forwarders = _forwarders(tmp_path, {
            "SARK_SIEM_DATADOG_URL": f"{collector.url}/api/v2/logs",
            "SARK_SIEM_DATADOG_API_KEY": "dd-key-1", "SARK_SIEM_DATADOG_TAGS": "env:test",
        }, telemetry)  # fmt: skip
        forwarders.start()
        rows = _rows(3)
        forwarders.offer(rows)
        await eventually(lambda: collector.received, "a request")
        await forwarders.close(5)
    [request] = collector.received
    assert request.path == "/api/v2/logs"
    assert request.headers["dd-api-key"] == "dd-key-1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-encoding"] == "gzip"
    logs = request.json()
    assert isinstance(logs, list)
    assert len(logs) == 3
    assert logs[0]["ddsource"] == "sark"
    assert logs[0]["service"] == "sark"
    assert logs[0]["ddtags"] == "env:test,kind:decision"
    assert logs[0]["sark"]["id"] == rows[0].id
    assert logs[1]["status"] == "warn"  # event 1 is a deny
    assert "tool:invoke" in logs[0]["message"]


def test_datadog_default_url_is_the_v2_intake_of_the_site(tmp_path: Path) -> None:
    forwarders = _forwarders(tmp_path, {
        "SARK_SIEM_DATADOG_API_KEY": "k", "SARK_SIEM_DATADOG_SITE": "datadoghq.eu",
    }, Telemetry())  # fmt: skip
    [datadog] = forwarders.forwarders
    assert datadog.url == "https://http-intake.logs.datadoghq.eu/api/v2/logs"


def test_splunk_without_token_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SARK_SIEM_SPLUNK_TOKEN"):
        _forwarders(tmp_path, {"SARK_SIEM_SPLUNK_URL": "http://127.0.0.1:1"}, Telemetry())


def test_nothing_configured_means_no_forwarders(tmp_path: Path) -> None:
    assert not _forwarders(tmp_path, {}, Telemetry())


async def test_webhook_receives_a_signed_json_array(tmp_path: Path) -> None:
    with running_collector() as collector:
        forwarders = _forwarders(tmp_path, {
            "SARK_SIEM_WEBHOOK_URL": f"{collector.url}/hooks/audit",
            "SARK_SIEM_WEBHOOK_SECRET": "s3cret", "SARK_SIEM_GZIP": "false",
        }, Telemetry())  # fmt: skip
        forwarders.start()
        rows = _rows(4)
        forwarders.offer(rows)
        await eventually(lambda: collector.received, "a request")
        await forwarders.close(5)
    [request] = collector.received
    assert request.path == "/hooks/audit"
    assert "content-encoding" not in request.headers
    timestamp = request.headers["x-sark-timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert hmac.compare_digest(
        request.headers["x-sark-signature"], f"sha256={expected.hexdigest()}"
    )
    assert [event["id"] for event in request.json()] == [row.id for row in rows]


async def test_failing_collector_opens_the_circuit_and_events_arrive_after_recovery(
    tmp_path: Path,
) -> None:
    telemetry = Telemetry()
    failures = ["500", "close", "503", "429", "500", "close", "500", "500"]
    with running_collector(failures=failures) as collector:
        forwarders = _forwarders(tmp_path, {
            "SARK_SIEM_WEBHOOK_URL": collector.url, "SARK_SIEM_MAX_RETRIES": "1",
            "SARK_SIEM_CIRCUIT_FAILURE_THRESHOLD": "3", "SARK_SIEM_CIRCUIT_RESET_SECONDS": "0.2",
        }, telemetry)  # fmt: skip
        [webhook] = forwarders.forwarders
        states: list[CircuitState] = []
        forwarders.start()
        rows = _rows(20)
        forwarders.offer(rows)

        def delivered() -> bool:
            states.append(webhook.breaker.state)
            return sum(len(r.json()) for r in collector.received) == 20

        await eventually(delivered, "delivery after recovery")
        await forwarders.close(5)
    assert collector.failures == []  # every failure was served before recovery
    ids = [event["id"] for request in collector.received for event in request.json()]
    assert ids == [row.id for row in rows]  # in order, each once
    assert webhook.breaker.opened_count >= 1
    assert CircuitState.OPEN in states or CircuitState.HALF_OPEN in states
    assert webhook.breaker.state is CircuitState.CLOSED
    labels = {"forwarder": "webhook"}
    assert sample(telemetry, "sark_siem_failures_total", labels) == len(failures)
    assert sample(telemetry, "sark_siem_events_sent_total", labels) == 20
    assert sample(telemetry, "sark_siem_circuit_state", labels) == 0
    assert sample(telemetry, "sark_siem_dropped_total", labels) == 0


async def test_full_buffer_drops_oldest_from_the_forwarder_only(tmp_path: Path) -> None:
    telemetry = Telemetry()
    with running_collector() as collector:
        forwarders = _forwarders(tmp_path, {
            "SARK_SIEM_WEBHOOK_URL": collector.url, "SARK_SIEM_BUFFER_SIZE": "5",
        }, telemetry)  # fmt: skip
        rows = _rows(12)
        forwarders.offer(rows)  # before the task runs: more than the buffer holds
        forwarders.start()
        await eventually(lambda: collector.received, "a request")
        await forwarders.close(5)
    ids = [event["id"] for request in collector.received for event in request.json()]
    assert ids == [row.id for row in rows[-5:]]
    assert sample(telemetry, "sark_siem_dropped_total", {"forwarder": "webhook"}) == 7


async def test_writer_feeds_forwarders_and_a_dead_collector_never_affects_the_database(
    make_writer: Callable[..., AuditWriter], engine, spool_dir: Path, migrated, tmp_path: Path
) -> None:
    telemetry = Telemetry()
    with running_collector(failures=["500"] * 1000) as dead, running_collector() as alive:
        forwarders = _forwarders(tmp_path, {"SARK_SIEM_WEBHOOK_URL": alive.url}, telemetry)
        broken = _forwarders(tmp_path, {
            "SARK_SIEM_SPLUNK_URL": dead.url, "SARK_SIEM_SPLUNK_TOKEN": "t",
            "SARK_SIEM_CIRCUIT_FAILURE_THRESHOLD": "2",
        }, telemetry)  # fmt: skip
        both = ForwarderSet([*forwarders.forwarders, *broken.forwarders])
        writer = AuditWriter(engine, Spool(spool_dir), telemetry, migrated.audit, both)
        await writer.start()
        try:
            for number in range(30):
                writer.record(make_event(number))
            await writer.flush()
            await eventually(lambda: sum(len(r.json()) for r in alive.received) == 30, "webhook")
            await eventually(lambda: dead.attempts >= 2, "the dead collector to be tried")
        finally:
            await writer.close()
    assert await stored_numbers(engine) == list(range(30))
    forwarded = [event["details"]["n"] for r in alive.received for event in r.json()]
    assert forwarded == list(range(30))
    assert sample(telemetry, "sark_siem_failures_total", {"forwarder": "splunk"}) >= 2
