"""Request middleware: request id, access log and HTTP metrics in one pass."""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Final

import uuid_utils
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from sark.api.observability.logging import request_id_var
from sark.api.observability.metrics import Telemetry

REQUEST_ID_HEADER: Final = "x-request-id"
_VALID_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_LABELLED: Final = 1024
"""Label sets whose metric children are kept (routes x methods x statuses in practice)."""
access_log = logging.getLogger("sark.access")


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is safe to echo, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid_utils.uuid4().hex  # the Rust generator: ~10x cheaper than uuid.uuid4


class ObservabilityMiddleware:
    """Tags each request with an id, then records its latency, status and log line."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, log_access: bool) -> None:
        self.app = app
        self.telemetry = telemetry
        self.log_access = log_access
        # labels() takes a lock and builds a tuple per call; children are looked up once.
        self._labelled: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id bound and measure it."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "<unmatched>"
            method = scope["method"]
            counted, timed = self._children(method, route, status)
            counted.inc()
            timed.observe(elapsed)
            if self.log_access:
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={"status": status, "duration_ms": round(elapsed * 1000, 3)},
                )
            request_id_var.reset(token)

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        found = self._labelled.get(key)
        if found is None:
            telemetry = self.telemetry
            found = (
                telemetry.http_requests.labels(method, route, str(status)),
                telemetry.http_latency.labels(method, route),
            )
            if len(self._labelled) < MAX_LABELLED:  # odd methods must not grow it forever
                self._labelled[key] = found
        return found
