"""Generic webhook: a JSON array of audit events, optionally HMAC-SHA256 signed."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

import msgspec

from sark.api.domain.audit.forwarders.base import Document, Forwarder, ForwarderOptions
from sark.api.observability.metrics import Telemetry

SIGNATURE_HEADER = "X-Sark-Signature"
TIMESTAMP_HEADER = "X-Sark-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``<timestamp>.`` + body)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookForwarder(Forwarder):
    """POSTs batches as a JSON array; signs them when a secret is configured."""

    name = "webhook"

    def __init__(
        self, options: ForwarderOptions, telemetry: Telemetry, *, url: str, secret: str | None
    ) -> None:
        super().__init__(options, telemetry)
        self._url = url
        self._secret = secret

    @property
    def url(self) -> str:
        """The receiving URL."""
        return self._url

    def encode(self, documents: Sequence[Document]) -> bytes:
        """The events as one JSON array."""
        return msgspec.json.encode(list(documents))

    def headers(self, body: bytes) -> dict[str, str]:
        """JSON, plus timestamp and signature headers when signing (over the raw body)."""
        headers = super().headers(body)
        if self._secret:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self._secret, timestamp, body)
        return headers
