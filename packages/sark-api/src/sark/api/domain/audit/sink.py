"""The one interface every part of SARK records audit events through.

``record`` never blocks and never raises: it hands the event to the writer, which owns
delivery (batching, back-pressure, spooling). Until the database writer starts (or when a
process has none, such as a CLI command), :class:`LogAuditSink` writes events to the
``sark.audit`` logger so nothing is silently dropped.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from sark.core.models import AuditEvent

audit_log = logging.getLogger("sark.audit")


class AuditSink(Protocol):
    """Accepts audit events for delivery."""

    def record(self, event: AuditEvent) -> None:
        """Enqueue ``event``; must not block the caller or raise."""


class LogAuditSink:
    """Writes each event as one structured log line."""

    def record(self, event: AuditEvent) -> None:
        """Log ``event`` at info level under ``sark.audit``."""
        audit_log.info(
            "audit %s %s", event.kind, event.action, extra={"audit": msgspec.to_builtins(event)}
        )


async def record_event(sink: AuditSink, event: AuditEvent) -> None:
    """Record ``event`` with back-pressure when ``sink`` supports it (the request path).

    With the database writer this waits (bounded by ``SARK_AUDIT_BACKPRESSURE_TIMEOUT_MS``)
    for queue space instead of spooling to disk; other sinks just ``record``.
    """
    record_async = getattr(sink, "record_async", None)
    if record_async is None:
        sink.record(event)
        return
    await record_async(event)
