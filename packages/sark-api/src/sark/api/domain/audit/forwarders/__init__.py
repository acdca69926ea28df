"""SIEM forwarders of the audit trail: Splunk HEC, Datadog logs and a generic webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sark.api.domain.audit.forwarders.base import Document, Forwarder, ForwarderOptions
from sark.api.domain.audit.forwarders.breaker import CircuitBreaker, CircuitState
from sark.api.domain.audit.forwarders.datadog import DatadogForwarder, intake_url
from sark.api.domain.audit.forwarders.splunk import SplunkForwarder
from sark.api.domain.audit.forwarders.webhook import WebhookForwarder
from sark.api.domain.audit.rows import AuditRow, to_document
from sark.api.observability.metrics import Telemetry
from sark.core.errors import ConfigError
from sark.core.settings import SiemSettings

log = logging.getLogger("sark.audit.siem")


class ForwarderSet:
    """The configured forwarders, fed together by the audit writer."""

    def __init__(self, forwarders: Sequence[Forwarder]) -> None:
        self.forwarders = tuple(forwarders)

    def __bool__(self) -> bool:
        return bool(self.forwarders)

    def offer(self, rows: Sequence[AuditRow]) -> None:
        """Hand durable rows to every forwarder; never raises."""
        if not self.forwarders or not rows:
            return
        try:
            documents = [to_document(row) for row in rows]
            for forwarder in self.forwarders:
                forwarder.offer(documents)
        except Exception:  # a forwarder problem must never reach the writer
            log.exception("could not hand audit events to the SIEM forwarders")

    def start(self) -> None:
        """Start every forwarder's task."""
        for forwarder in self.forwarders:
            forwarder.start()

    async def close(self, grace: float) -> None:
        """Flush and stop every forwarder within ``grace`` seconds."""
        await asyncio.gather(*(f.close(grace) for f in self.forwarders))


def build_forwarders(siem: SiemSettings, telemetry: Telemetry) -> ForwarderSet:
    """The forwarders ``siem`` configures (possibly none)."""
    options = ForwarderOptions.from_settings(siem)
    forwarders: list[Forwarder] = []
    if siem.splunk.url:
        if not siem.splunk.token:
            msg = "SARK_SIEM_SPLUNK_URL is set but SARK_SIEM_SPLUNK_TOKEN is not"
            raise ConfigError(msg)
        forwarders.append(
            SplunkForwarder(
                options, telemetry, url=siem.splunk.url, token=siem.splunk.token.reveal(),
                sourcetype=siem.splunk.sourcetype, source=siem.splunk.source,
                index=siem.splunk.index,
            )
        )  # fmt: skip
    if siem.datadog.api_key:
        forwarders.append(
            DatadogForwarder(
                options, telemetry, url=siem.datadog.url or intake_url(siem.datadog.site),
                api_key=siem.datadog.api_key.reveal(), service=siem.datadog.service,
                tags=siem.datadog.tags,
            )
        )  # fmt: skip
    if siem.webhook.url:
        secret = siem.webhook.secret.reveal() if siem.webhook.secret else None
        forwarders.append(WebhookForwarder(options, telemetry, url=siem.webhook.url, secret=secret))
    return ForwarderSet(forwarders)


__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "DatadogForwarder",
    "Document",
    "Forwarder",
    "ForwarderOptions",
    "ForwarderSet",
    "SplunkForwarder",
    "WebhookForwarder",
    "build_forwarders",
]
