"""The audit writer: queue, batched inserts, spool on database failure, replay, flush.

``record`` is synchronous and never blocks or raises: it gives the event its id and
sequence number and appends it to a bounded in-process queue. One task drains the queue:
it starts a write when ``SARK_AUDIT_BATCH_SIZE`` events are queued or the oldest has waited
``SARK_AUDIT_FLUSH_INTERVAL_MS``, and a write takes everything queued, in one transaction of
statements of at most ``SARK_AUDIT_BATCH_SIZE`` events. (A busy worker gives this task a
turn only between requests; writing one batch per turn could not keep up with it.)

Order is one logical FIFO: the spool (oldest) followed by the queue (newest).

* When an insert fails the batch goes to the spool, and while the spool holds anything
  every later batch goes there too, so events reach the database in the order recorded.
  The database is probed with back-off; once it answers, the spool is replayed segment
  by segment (idempotent inserts, a segment is deleted only after its rows committed).
* When the queue is full, ``record_async`` waits for space (back-pressure, bounded by
  ``SARK_AUDIT_BACKPRESSURE_TIMEOUT_MS``) and ``record`` spills: the queued events and the
  new one are handed, in order, to the spool thread. Nothing is dropped either way.
* On shutdown the queue is written within ``SARK_AUDIT_SHUTDOWN_TIMEOUT_SECONDS``; what is
  left is spooled and replayed by the next process on start.

Spool file I/O runs on one dedicated thread (in submission order), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.audit.forwarders import ForwarderSet, build_forwarders
from sark.api.domain.audit.partitions import apply_retention, ensure_partitions
from sark.api.domain.audit.rows import AuditRow, encode_line, make_row
from sark.api.domain.audit.sink import LogAuditSink
from sark.api.domain.audit.spool import Spool
from sark.api.domain.audit.store import AuditStore, probe
from sark.api.observability.metrics import Telemetry
from sark.core.models import AuditEvent
from sark.core.settings import AuditSettings

if TYPE_CHECKING:
    from sark.core.settings import Settings

log = logging.getLogger("sark.audit.writer")
T = TypeVar("T")

PROBE_MIN_SECONDS = 0.2
PROBE_MAX_SECONDS = 10.0
REPLAY_BATCHES = 20
"""A replay inserts this many batches per transaction, so it outruns a busy worker's flow."""
DEPTH_EVERY = 64
"""``record`` updates the queue-depth gauge every this many events (the writer at each batch)."""
SEQ_STRIDE = 1024
"""A writer's sequence numbers step by this; their remainder is its pid's (see first_seq)."""
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def first_seq(pid: int, now_ns: int) -> int:
    """The first sequence number of the writer of process ``pid`` starting at ``now_ns``.

    The clock in ns, moved up to the next number whose remainder by ``SEQ_STRIDE`` is the
    pid's, and the writer steps by ``SEQ_STRIDE``: numbers grow across restarts (while a
    writer averages fewer than about 970,000 events per second), and worker processes of
    one host, forked a few microseconds apart, never share a number: ``seq % SEQ_STRIDE``
    names the writer (unless two live pids are congruent modulo ``SEQ_STRIDE``).
    """
    return now_ns + (pid - now_ns) % SEQ_STRIDE


def spool_root(settings: Settings) -> Path:
    """The spool directory ``settings`` names (default ``$SARK_HOME/audit-spool``)."""
    return Path(settings.audit.spool_dir or Path(settings.home) / "audit-spool")


class _Metrics:
    def __init__(self, telemetry: Telemetry) -> None:
        self.depth = telemetry.gauge("sark_audit_queue_depth", "Audit events in the queue.")
        self.lag = telemetry.gauge(
            "sark_audit_lag_seconds", "Age of the oldest audit event not yet in the database."
        )
        self.written = telemetry.counter(
            "sark_audit_events_written_total", "Audit events committed to the database."
        )
        self.spooled = telemetry.counter(
            "sark_audit_spooled_total", "Audit events written to the spool file."
        )
        self.errors = telemetry.counter(
            "sark_audit_write_errors_total", "Failed audit inserts and spool writes."
        )
        self.batch = telemetry.histogram(
            "sark_audit_batch_duration_seconds",
            "Time to insert one batch of audit events.",
            buckets=BATCH_BUCKETS,
        )


class AuditWriter:
    """The database audit sink (implements :class:`~sark.api.domain.audit.sink.AuditSink`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        spool: Spool,
        telemetry: Telemetry,
        settings: AuditSettings,
        forwarders: ForwarderSet | None = None,
    ) -> None:
        self.engine = engine
        self.store = AuditStore(engine)
        self.spool = spool
        self.settings = settings
        self.forwarders = forwarders or ForwarderSet(())
        self.metrics = _Metrics(telemetry)
        self._queue: deque[tuple[float, AuditRow]] = deque()
        self._seq = first_seq(os.getpid(), time.time_ns())
        self._first_seq = self._seq
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._spool_mode = False
        self._spool_pending = 0
        self._spool_since: float | None = None
        self._next_probe = 0.0
        self._probe_delay = PROBE_MIN_SECONDS
        self._inflight: list[AuditRow] = []
        self._task: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._fallback = LogAuditSink()

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: AsyncEngine, telemetry: Telemetry
    ) -> AuditWriter:
        """A writer (with the configured SIEM forwarders) for ``settings``."""
        return cls(
            engine,
            Spool(spool_root(settings)),
            telemetry,
            settings.audit,
            build_forwarders(settings.siem, telemetry),
        )

    # ------------------------------------------------------------------ recording

    @property
    def queue_depth(self) -> int:
        """Events waiting in memory."""
        return len(self._queue)

    @property
    def spooling(self) -> bool:
        """Whether events currently go through the spool (database down or overflow)."""
        return self._spool_mode

    def record(self, event: AuditEvent) -> None:
        """Enqueue ``event``; never blocks on I/O, never raises, never drops it."""
        try:
            loop = self._loop
            if loop is not None and self._loop_thread != threading.get_ident():
                # Called from a worker thread: hand it to the loop (keeps one writer of state).
                try:
                    loop.call_soon_threadsafe(self.record, event)
                except RuntimeError:  # the loop is closed: last resort, keep it in the log
                    self._lost([make_row(event, self._next_seq())], "event loop closed")
                return
            row = make_row(event, self._next_seq())
            if self._closed:
                # After shutdown the drain is gone: straight to the spool while it is open.
                if self._executor is None:
                    self._lost([row], "writer closed")
                else:
                    self._submit_spool([row], time.monotonic())
                return
            if len(self._queue) >= self.settings.queue_size and self._executor is not None:
                self._spill(row)
                return
            self._queue.append((time.monotonic(), row))
            depth = len(self._queue)
            if depth == 1 or not depth % DEPTH_EVERY:  # a gauge set takes a lock
                self.metrics.depth.set(depth)
            if depth == 1 or depth >= self.settings.batch_size:
                self._wake.set()
        except Exception:  # record() must never raise into a decision
            log.exception("audit record failed; event logged instead")
            self._fallback.record(event)

    async def record_async(self, event: AuditEvent) -> None:
        """Enqueue ``event``, first waiting (bounded) for queue space: back-pressure."""
        if self._loop_thread == threading.get_ident():
            await self.wait_capacity(self.settings.backpressure_timeout_ms / 1000)
        self.record(event)

    async def wait_capacity(self, limit: float | None = None) -> bool:
        """Wait until the queue has room; False when ``limit`` seconds passed first."""
        deadline = None if limit is None else time.monotonic() + limit
        while len(self._queue) >= self.settings.queue_size and not self._closed:
            self._space.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._space.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def _next_seq(self) -> int:
        self._seq += SEQ_STRIDE
        return self._seq

    def _spill(self, row: AuditRow) -> None:
        # Queue full: the queued events and this one go to the spool, in order, and the
        # spool becomes the head of the FIFO until it has been replayed.
        rows = [queued for _, queued in self._queue]
        rows.append(row)
        oldest = self._queue[0][0] if self._queue else time.monotonic()
        self._queue.clear()
        self.metrics.depth.set(0)
        self._space.set()
        self._submit_spool(rows, oldest)
        self._wake.set()

    def _lost(self, rows: Sequence[AuditRow], why: str) -> None:
        # Neither database nor spool can take these: the log is the last durable channel.
        self.metrics.errors.inc()
        for row in rows:
            log.error("audit event not stored (%s): %s", why, encode_line(row).decode().rstrip())

    # ------------------------------------------------------------------ spool plumbing

    def _submit_spool(self, rows: list[AuditRow], oldest: float) -> asyncio.Future[None]:
        assert self._loop is not None
        assert self._executor is not None
        self._spool_mode = True
        if self._spool_since is None:
            self._spool_since = oldest
        self._spool_pending += 1
        future = asyncio.wrap_future(self._executor.submit(self.spool.append, rows))
        future.add_done_callback(lambda done: self._spooled(done, rows))
        return future

    def _spooled(self, done: asyncio.Future[None], rows: list[AuditRow]) -> None:
        self._spool_pending -= 1
        if done.cancelled() or done.exception() is not None:
            self._lost(rows, f"spool write failed: {done.exception()!r}")
            return
        self.metrics.spooled.inc(len(rows))
        self.forwarders.offer(rows)

    async def _in_spool_thread(self, function: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        future: Future[T] = self._executor.submit(function, *args)
        return await asyncio.wrap_future(future)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the spool, replay what earlier processes left, start draining."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sark-audit-spool")
        await self._in_spool_thread(self.spool.open, self._first_seq)
        if not await self._in_spool_thread(self.spool.is_empty):
            self._spool_mode = True
            self._spool_since = time.monotonic()
            await self._replay()
        self.forwarders.start()
        self._task = asyncio.create_task(self._run(), name="sark-audit-writer")
        self._maintenance = asyncio.create_task(self._maintain(), name="sark-audit-maintenance")

    async def flush(self) -> None:
        """Wait until every event recorded so far is in the database or the spool."""
        while self._queue or self._inflight or self._spool_pending:
            self._wake.set()
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Write the queue (bounded wait), spool the rest, stop forwarders and tasks."""
        if self._closed or self._loop is None:
            return
        await asyncio.sleep(0)  # let records already scheduled from other threads land
        self._closing = True
        self._wake.set()
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.settings.shutdown_timeout_seconds
                )
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        leftovers = [*self._inflight, *(row for _, row in self._queue)]
        self._queue.clear()
        self._inflight = []
        self._closed = True
        self.metrics.depth.set(0)
        if leftovers:
            log.warning("audit writer spooling %d unwritten events at shutdown", len(leftovers))
            with contextlib.suppress(Exception):
                await self._submit_spool(leftovers, time.monotonic())
        await self.forwarders.close(self.settings.shutdown_timeout_seconds)
        executor, self._executor = self._executor, None
        assert executor is not None
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(executor.submit(self.spool.close))
        executor.shutdown(wait=True)
        self.store.close()

    # ------------------------------------------------------------------ draining

    async def _wait(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _wait_batch(self) -> None:
        self._wake.clear()
        if not self._queue and not self._closing:
            probe_in = self._next_probe - time.monotonic() if self._spool_mode else None
            await self._wait(probe_in)
        self._wake.clear()
        if self._queue and len(self._queue) < self.settings.batch_size and not self._closing:
            interval = self.settings.flush_interval_ms / 1000
            await self._wait(self._queue[0][0] + interval - time.monotonic())

    def _update_lag(self) -> None:
        now = time.monotonic()
        oldest = [self._queue[0][0]] if self._queue else []
        if self._spool_since is not None:
            oldest.append(self._spool_since)
        self.metrics.lag.set(now - min(oldest) if oldest else 0.0)

    async def _run(self) -> None:
        while True:
            await self._wait_batch()
            self._update_lag()
            if self._spool_mode:
                await self._spool_queue()
                if self._closing or time.monotonic() >= self._next_probe:
                    await self._replay()
                if self._closing and (self._spool_mode or not self._queue):
                    return
                continue
            if self._queue:
                await self._write_batch()
                self._update_lag()
            elif self._closing:
                return

    async def _spool_queue(self) -> None:
        if not self._queue:
            return
        oldest = self._queue[0][0]
        rows = [row for _, row in self._queue]
        self._queue.clear()
        self.metrics.depth.set(0)
        self._space.set()
        with contextlib.suppress(Exception):  # failures are reported by _spooled
            await self._submit_spool(rows, oldest)

    async def _write_batch(self) -> None:
        oldest = self._queue[0][0]
        batch = [row for _, row in self._queue]
        self._queue.clear()
        self._inflight = batch
        self.metrics.depth.set(0)
        self._space.set()
        started = time.perf_counter()
        try:
            await self.store.insert(batch, self.settings.batch_size)
        except Exception as exc:
            self.metrics.errors.inc()
            log.warning("audit insert failed (%s); spooling until the database is back", exc)
            self._schedule_probe(reset=True)
            with contextlib.suppress(Exception):
                await self._submit_spool(batch, oldest)
        else:
            self.metrics.batch.observe(time.perf_counter() - started)
            self.metrics.written.inc(len(batch))
            self.forwarders.offer(batch)
        finally:
            self._inflight = []

    def _schedule_probe(self, *, reset: bool = False) -> None:
        if reset:
            self._probe_delay = PROBE_MIN_SECONDS
        self._next_probe = time.monotonic() + self._probe_delay
        self._probe_delay = min(PROBE_MAX_SECONDS, self._probe_delay * 2)

    # ------------------------------------------------------------------ replay

    async def _replay(self) -> None:
        """Insert every spooled event in order; leave spool mode once the spool is empty."""
        try:
            await probe(self.engine)
        except Exception as exc:
            log.info("audit database still unavailable (%s)", type(exc).__name__)
            self._schedule_probe()
            return
        segments = await self._in_spool_thread(self.spool.seal)  # after pending appends
        for segment in segments:
            rows = await self._in_spool_thread(self.spool.read, segment)
            chunk = self.settings.batch_size * REPLAY_BATCHES
            for start in range(0, len(rows), chunk):
                if not await self._replay_chunk(rows[start : start + chunk]):
                    self._schedule_probe()
                    return
            await self._in_spool_thread(self.spool.remove, segment)
            log.info("replayed %d audit events from %s", len(rows), segment.name)
        empty = await self._in_spool_thread(self.spool.is_empty)
        if empty and self._spool_pending == 0:
            self._spool_mode = False
            self._spool_since = None
            self._probe_delay = PROBE_MIN_SECONDS
        else:
            self._next_probe = time.monotonic()  # more arrived meanwhile: continue at once

    async def _replay_chunk(self, rows: list[AuditRow]) -> bool:
        started = time.perf_counter()
        try:
            await self.store.insert(rows, self.settings.batch_size)
        except Exception as exc:
            self.metrics.errors.inc()
            try:
                await probe(self.engine)
            except Exception:
                log.info("audit database unavailable again during replay (%s)", exc)
                return False
            await self._replay_one_by_one(rows)
            return True
        self.metrics.batch.observe(time.perf_counter() - started)
        self.metrics.written.inc(len(rows))
        return True

    async def _replay_one_by_one(self, rows: list[AuditRow]) -> None:
        # The database works but refuses this chunk: find the rows it refuses and keep
        # them aside (rejected/), so one bad row cannot block the trail forever.
        rejected = []
        for row in rows:
            try:
                await self.store.insert([row])
            except Exception as exc:
                log.error("audit row %s refused by the database: %s", row.id, exc)
                rejected.append(row)
            else:
                self.metrics.written.inc()
        if rejected:
            path = await self._in_spool_thread(self.spool.reject, rejected)
            log.error("kept %d refused audit events in %s", len(rejected), path)

    # ------------------------------------------------------------------ maintenance

    async def maintain(self, now: datetime.datetime | None = None) -> None:
        """Create upcoming partitions and apply retention once."""
        moment = now or datetime.datetime.now(datetime.UTC)
        created = await ensure_partitions(self.engine, moment)
        if created:
            log.info("created audit partitions %s", ", ".join(created))
        removed = await apply_retention(self.engine, moment, self.settings.retention_days)
        if removed:
            log.info("audit retention removed %d partitions/rows", removed)

    async def _maintain(self) -> None:
        while True:
            try:
                await self.maintain()
            except Exception as exc:  # maintenance never affects writing
                log.warning("audit maintenance failed: %s", exc)
            await asyncio.sleep(self.settings.maintenance_interval_seconds)
