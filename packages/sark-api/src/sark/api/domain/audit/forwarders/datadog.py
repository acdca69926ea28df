"""Datadog logs intake (v2): a JSON array of log objects with ``DD-API-KEY``."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import msgspec

from sark.api.domain.audit.forwarders.base import Document, Forwarder, ForwarderOptions
from sark.api.observability.metrics import Telemetry


def intake_url(site: str) -> str:
    """The v2 logs intake URL of a Datadog site (``datadoghq.com``, ``datadoghq.eu`` ...)."""
    return f"https://http-intake.logs.{site}/api/v2/logs"


def _summary(doc: Document) -> str:
    allow = doc.get("allow")
    verdict = "" if allow is None else ("allow" if allow else "deny")
    parts = [doc.get("kind"), doc.get("action"), doc.get("resource"), verdict, doc.get("reason")]
    return " ".join(str(part) for part in parts if part)


class DatadogForwarder(Forwarder):
    """Sends events as Datadog log entries (``ddsource``, ``service``, ``ddtags``)."""

    name = "datadog"

    def __init__(
        self,
        options: ForwarderOptions,
        telemetry: Telemetry,
        *,
        url: str,
        api_key: str,
        service: str = "sark",
        tags: str = "",
    ) -> None:
        super().__init__(options, telemetry)
        self._url = url
        self._api_key = api_key
        self._service = service
        self._tags = [tag.strip() for tag in tags.split(",") if tag.strip()]
        self._hostname = socket.gethostname()

    @property
    def url(self) -> str:
        """The logs intake endpoint."""
        return self._url

    def encode(self, documents: Sequence[Document]) -> bytes:
        """A JSON array of log objects; the audit event is under the ``sark`` attribute."""
        logs = [
            {
                "ddsource": "sark",
                "service": self._service,
                "hostname": self._hostname,
                "ddtags": ",".join([*self._tags, f"kind:{doc.get('kind')}"]),
                "status": "warn" if doc.get("allow") is False else "info",
                "message": _summary(doc),
                "sark": doc,
            }
            for doc in documents
        ]
        return msgspec.json.encode(logs)

    def headers(self, body: bytes) -> dict[str, str]:
        """JSON plus ``DD-API-KEY``."""
        return {**super().headers(body), "DD-API-KEY": self._api_key}
