"""What every SIEM forwarder shares: buffer, batching, gzip, retries and a circuit breaker.

A forwarder receives audit events after the writer made them durable (committed to the
database, or fsync'd to the spool while the database is down) and sends them from its own
task, so a slow or failing collector never delays a decision or the database writer. Its
buffer is bounded: when it is full (typically while the circuit is open) the oldest events
are dropped from the forwarder, counted in ``sark_siem_dropped_total``. The database audit
trail is the system of record and is never dropped; SIEM delivery is at most once.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime
import email.utils
import gzip
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from sark.api.domain.audit.forwarders.breaker import CircuitBreaker
from sark.api.observability.metrics import Telemetry
from sark.core.settings import SiemSettings

log = logging.getLogger("sark.audit.siem")

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForwarderOptions:
    """Batching, retry and breaker tunables common to every forwarder."""

    batch_size: int = 100
    """Events per request."""
    flush_interval: float = 1.0
    """Seconds an event may wait for its batch to fill."""
    buffer_size: int = 10_000
    """Events held before the oldest are dropped."""
    gzip: bool = True
    """Send ``Content-Encoding: gzip`` bodies."""
    timeout: float = 10.0
    """Seconds one request may take."""
    max_retries: int = 5
    """Retries of one batch before it goes back to the buffer."""
    backoff: float = 0.5
    """First retry delay in seconds (doubled each retry, with jitter)."""
    max_backoff: float = 30.0
    """Longest retry delay; ``Retry-After`` is capped to it too."""
    failure_threshold: int = 5
    """Consecutive failures that open the circuit."""
    reset_seconds: float = 30.0
    """Cool-down of an open circuit before a probe."""

    @classmethod
    def from_settings(cls, siem: SiemSettings) -> ForwarderOptions:
        """Options from the ``siem.*`` settings."""
        return cls(
            batch_size=siem.batch_size,
            flush_interval=siem.flush_interval_ms / 1000,
            buffer_size=siem.buffer_size,
            gzip=siem.gzip,
            timeout=siem.timeout_seconds,
            max_retries=siem.max_retries,
            backoff=siem.retry_backoff_ms / 1000,
            max_backoff=siem.retry_max_backoff_ms / 1000,
            failure_threshold=siem.circuit_failure_threshold,
            reset_seconds=siem.circuit_reset_seconds,
        )


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.datetime.now(datetime.UTC)).total_seconds())


class _Outcome:
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"


class Forwarder(abc.ABC):
    """Sends audit documents to one collector in batches from a background task."""

    name: ClassVar[str]

    def __init__(self, options: ForwarderOptions, telemetry: Telemetry) -> None:
        self.options = options
        self.breaker = CircuitBreaker(options.failure_threshold, options.reset_seconds)
        self._buffer: deque[Document] = deque()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        labels = {"forwarder": self.name}
        self._sent = telemetry.counter(
            "sark_siem_events_sent_total", "Audit events a collector accepted.", ("forwarder",)
        ).labels(**labels)
        self._failures = telemetry.counter(
            "sark_siem_failures_total", "Failed requests to a SIEM collector.", ("forwarder",)
        ).labels(**labels)
        self._dropped = telemetry.counter(
            "sark_siem_dropped_total",
            "Audit events dropped from a forwarder buffer (the database keeps them).",
            ("forwarder",),
        ).labels(**labels)
        self._state = telemetry.gauge(
            "sark_siem_circuit_state",
            "Circuit of a forwarder: 0 closed, 1 open, 2 half-open.",
            ("forwarder",),
        ).labels(**labels)
        self._depth = telemetry.gauge(
            "sark_siem_queue_depth", "Audit events waiting in a forwarder.", ("forwarder",)
        ).labels(**labels)

    # ---------------------------------------------------------------- wire format

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where batches are POSTed."""

    @abc.abstractmethod
    def encode(self, documents: Sequence[Document]) -> bytes:
        """The (uncompressed) request body of one batch."""

    def headers(self, body: bytes) -> dict[str, str]:
        """Request headers for ``body`` (before compression); subclasses add auth."""
        return {"Content-Type": "application/json"}

    # ---------------------------------------------------------------- lifecycle

    def offer(self, documents: Sequence[Document]) -> None:
        """Queue documents for sending; never blocks, drops the oldest beyond the buffer."""
        self._buffer.extend(documents)
        self._trim()
        if len(self._buffer) >= self.options.batch_size:
            self._wake.set()
        elif documents:
            self._wake.set()  # start the flush-interval clock of a new batch
        self._depth.set(len(self._buffer))

    def _trim(self) -> None:
        excess = len(self._buffer) - self.options.buffer_size
        if excess > 0:
            for _ in range(excess):
                self._buffer.popleft()
            self._dropped.inc(excess)
            log.warning("%s forwarder buffer full: dropped the %d oldest events", self.name, excess)

    @property
    def pending(self) -> int:
        """Events waiting to be sent."""
        return len(self._buffer)

    def start(self) -> None:
        """Start the sending task (and the HTTP client it uses)."""
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.options.timeout))
        self._task = asyncio.create_task(self._run(), name=f"sark-siem-{self.name}")

    async def close(self, grace: float) -> None:
        """Send what is buffered within ``grace`` seconds, then stop."""
        self._closing = True
        self._wake.set()
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._buffer:
            log.warning("%s forwarder stopped with %d unsent events", self.name, len(self._buffer))
            self._dropped.inc(len(self._buffer))
            self._buffer.clear()
        self._depth.set(0)
        if self._client is not None:
            await self._client.aclose()

    # ---------------------------------------------------------------- sending

    async def _sleep(self, seconds: float) -> None:
        # Interruptible by close(): shutdown never waits out a back-off.
        if seconds <= 0 or self._closing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _wait_batch(self) -> None:
        self._wake.clear()
        if not self._buffer and not self._closing:
            await self._wake.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.flush_interval
        while len(self._buffer) < self.options.batch_size and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def _run(self) -> None:
        while True:
            await self._wait_batch()
            if not self._buffer:
                if self._closing:
                    return
                continue
            if not self.breaker.allows():
                self._state.set(self.breaker.state)
                if self._closing:
                    return
                await self._sleep(self.breaker.time_until_probe())
                continue
            batch = [
                self._buffer.popleft()
                for _ in range(min(self.options.batch_size, len(self._buffer)))
            ]
            self._depth.set(len(self._buffer))
            try:
                delivered = await self._deliver(batch)
            except Exception:  # never let a bug in a forwarder kill its task silently
                log.exception("%s forwarder failed unexpectedly", self.name)
                delivered = False
            if not delivered:
                self._buffer.extendleft(reversed(batch))
                self._trim()
                self._depth.set(len(self._buffer))
                if self._closing:
                    return

    def _backoff(self, attempt: int) -> float:
        base = min(self.options.max_backoff, self.options.backoff * 2.0 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311  # jitter  # nosec B311

    async def _deliver(self, batch: list[Document]) -> bool:
        body = self.encode(batch)
        headers = self.headers(body)
        if self.options.gzip:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body, compresslevel=6)
        attempt = 0
        while True:
            outcome, retry_after = await self._attempt(body, headers, len(batch))
            self._state.set(self.breaker.state)
            if outcome != _Outcome.RETRY:
                return True
            attempt += 1
            if attempt > self.options.max_retries or not self.breaker.allows() or self._closing:
                return False
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            await self._sleep(min(delay, self.options.max_backoff))

    async def _attempt(
        self, body: bytes, headers: dict[str, str], count: int
    ) -> tuple[str, float | None]:
        assert self._client is not None
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("%s forwarder: %s", self.name, type(exc).__name__)
            self._failures.inc()
            self.breaker.record_failure()
            return _Outcome.RETRY, None
        if response.is_success:
            self.breaker.record_success()
            self._sent.inc(count)
            return _Outcome.SENT, None
        self._failures.inc()
        if response.status_code in {408, 429} or response.status_code >= 500:
            log.warning("%s forwarder: collector answered %d", self.name, response.status_code)
            self.breaker.record_failure()
            return _Outcome.RETRY, retry_after_seconds(response.headers.get("Retry-After"))
        # The collector is up but refuses this batch (bad token, bad format): retrying
        # cannot help and would block every later event, so the batch is dropped.
        log.error(
            "%s forwarder: collector rejected %d events with %d", self.name, count,
            response.status_code,
        )  # fmt: skip
        self._dropped.inc(count)
        return _Outcome.REJECTED, None
