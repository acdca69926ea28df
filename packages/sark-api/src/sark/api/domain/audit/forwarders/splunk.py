"""Splunk HTTP Event Collector: ``POST /services/collector/event`` with a HEC token."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import msgspec

from sark.api.domain.audit.forwarders.base import Document, Forwarder, ForwarderOptions
from sark.api.observability.metrics import Telemetry

EVENT_PATH = "/services/collector/event"


class SplunkForwarder(Forwarder):
    """Sends events as concatenated HEC JSON objects (``{"time", "event", ...}``)."""

    name = "splunk"

    def __init__(
        self,
        options: ForwarderOptions,
        telemetry: Telemetry,
        *,
        url: str,
        token: str,
        sourcetype: str = "sark:audit",
        source: str = "sark",
        index: str | None = None,
    ) -> None:
        super().__init__(options, telemetry)
        base = url.rstrip("/")
        self._url = base if base.endswith(EVENT_PATH) else base + EVENT_PATH
        self._token = token
        self._envelope: dict[str, str] = {
            "host": socket.gethostname(),
            "source": source,
            "sourcetype": sourcetype,
        }
        if index:
            self._envelope["index"] = index

    @property
    def url(self) -> str:
        """The HEC event endpoint."""
        return self._url

    def encode(self, documents: Sequence[Document]) -> bytes:
        """One HEC event object per document, newline separated (HEC batch format)."""
        return b"\n".join(
            msgspec.json.encode({"time": doc["time"], **self._envelope, "event": doc})
            for doc in documents
        )

    def headers(self, body: bytes) -> dict[str, str]:
        """JSON plus ``Authorization: Splunk <token>``."""
        return {**super().headers(body), "Authorization": f"Splunk {self._token}"}
