"""Fault-injection harness: a real ``sark serve`` process, a seeded catalog, steady load.

The pieces every fault test shares:

- :class:`OpaServer`: a private OPA server that can be SIGKILLed and restarted on its port;
- :class:`SarkProcess`: ``sark db upgrade`` then ``sark serve --workers N`` on a free port,
  with the worker pids read from ``/proc`` (granian's workers are children of ``sark``);
- :func:`seed`: teams, users of every role, servers with a tool of every sensitivity;
- :class:`Load`: concurrent httpx clients posting ``/api/v1/policy/evaluate`` and
  ``/api/v1/gateway/authorize`` round-robin over principals and tools, recording every
  response with the phase (before / during / after the fault) it started in;
- :func:`check_responses`: the client-side contract under faults (no 5xx, no transport
  error, each 200 the reference decision or a fail-closed deny naming the failure);
- :func:`stored_decisions`: what ``audit_events`` holds, read straight from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from sark.api.domain.audit.writer import SEQ_STRIDE
from tests.support.processes import SARK, answers, children, stop_group
from tests.support.services import free_port, opa_binary, unavailable, wait_for

ADMIN_PASSWORD = "faults-admin-password"
USER_PASSWORD = "faults-user-password"
SENSITIVITIES = ("low", "medium", "high", "critical")
FAILURE_REASONS = ("facts_unavailable", "internal_error", "no_policy_engine")
"""Reasons of fail-closed denies (plus every ``engine_error:*``)."""


def is_failure_reason(reason: str) -> bool:
    """Whether ``reason`` names a failure on the decision path (not a policy rule)."""
    return reason.startswith("engine_") or reason in FAILURE_REASONS


# --------------------------------------------------------------------------- OPA


class OpaServer:
    """A private OPA server (empty: SARK pushes its bundle) that can be killed and restarted."""

    def __init__(self) -> None:
        binary = opa_binary()
        if binary is None:
            unavailable("OPA", "`go install` the opa binary")
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start OPA (again) on the same port."""
        self.process = subprocess.Popen(
            [self.binary, "run", "--server", "--addr", f"127.0.0.1:{self.port}",
             "--log-level", "error"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: answers(f"{self.url}/health"), "opa")

    def kill(self) -> None:
        """SIGKILL OPA: every policy it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def revision(self) -> str | None:
        """The bundle revision SARK pushed to this OPA (None: nothing pushed)."""
        url = f"{self.url}/v1/data/sark_meta/revision"
        with urllib.request.urlopen(url, timeout=2) as response:
            result: str | None = json.loads(response.read()).get("result")
            return result


@contextlib.contextmanager
def private_opa() -> Iterator[OpaServer]:
    """A started :class:`OpaServer`, killed at the end."""
    server = OpaServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --------------------------------------------------------------------------- SARK


def _clean_env() -> dict[str, str]:
    prefixes = ("SARK_", "GATEWAY_", "A2A_", "PROMETHEUS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class SarkProcess:
    """``sark serve`` in a subprocess (its own process group), logging to a file."""

    def __init__(self, home: Path, env: Mapping[str, str], *, workers: int = 2) -> None:
        self.home = home
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = home / "serve.log"
        self.env = {
            **_clean_env(),
            "SARK_HOME": str(home / ".sark"),
            "SARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SARK_JWT_SECRET": "faults-jwt-secret-0123456789abcdef0123456789",
            "SARK_API_KEY_PEPPER": "faults-api-key-pepper-0123456789",
            "SARK_LOG_LEVEL": "warning",
            "SARK_LOG_ACCESS": "false",
            "SARK_RATE_LIMIT_USER_PER_MINUTE": "0",
            "SARK_RATE_LIMIT_API_KEY_PER_MINUTE": "0",
            "SARK_AUDIT_FLUSH_INTERVAL_MS": "50",
            "GATEWAY_SYNC_INTERVAL_SECONDS": "0",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def upgrade(self) -> None:
        """``sark db upgrade`` with this process's environment."""
        result = subprocess.run([SARK, "db", "upgrade"], env=self.env,
                                cwd=self.home, capture_output=True, text=True, timeout=120,
                                check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]

    def start(self) -> None:
        """Start serving; returns once every worker answers."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [SARK, "serve", "--port", str(self.port), "--workers",
                 str(self.workers)],
                cwd=self.home,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(self._live, "sark serve", timeout=120)
        # Each worker builds its app on its own; wait for all of them to be up.
        wait_for(lambda: len(self.worker_pids()) >= self.workers, "sark workers", timeout=60)
        wait_for(self._all_ready, "every sark worker", timeout=120)

    def _live(self) -> bool:
        return answers(f"{self.base}/health/live")

    def _all_ready(self) -> bool:
        # 20 fresh connections in a row answer: both workers accept (the kernel spreads them).
        return all(self._live() for _ in range(20))

    @property
    def pid(self) -> int:
        """Pid of ``sark serve`` (granian's main process)."""
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes (children of the main process running Python)."""
        pids = []
        for child in children(self.pid):
            with contextlib.suppress(OSError):
                if b"python" in Path(f"/proc/{child}/cmdline").read_bytes().lower() or (
                    Path(f"/proc/{child}/exe").resolve() == Path(sys.executable).resolve()
                ):
                    pids.append(child)
        return pids

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM the main process and wait for the whole group to exit; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return code

    def kill(self) -> None:
        """SIGKILL the whole process group (cleanup)."""
        if self.process is not None:
            stop_group(self.process, timeout=0)

    def log_text(self) -> str:
        """Everything the service wrote so far."""
        return self.log.read_text(errors="replace")

    def spool_writers(self) -> list[tuple[int, int]]:
        """``(first seq, pid)`` of each audit writer's spool directory now present."""
        root = Path(self.env["SARK_HOME"]) / "audit-spool"
        found = []
        for directory in root.glob("*-*"):
            first, _, pid = directory.name.partition("-")
            if first.isdigit() and pid.isdigit():
                found.append((int(first), int(pid)))
        return sorted(found)


@contextlib.contextmanager
def running_sark(home: Path, env: Mapping[str, str], *, workers: int = 2) -> Iterator[SarkProcess]:
    """Upgrade the database, start ``sark serve``; stop it (SIGTERM, then SIGKILL) at the end."""
    home.mkdir(parents=True, exist_ok=True)
    sark = SarkProcess(home, env, workers=workers)
    sark.upgrade()
    try:
        sark.start()
        yield sark
    finally:
        if sark.process is not None and sark.process.poll() is None:
            with contextlib.suppress(Exception):
                sark.terminate(timeout=30)
        sark.kill()


# --------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class Seeded:
    """Tokens of the seeded principals and the catalog they act on."""

    tokens: dict[str, str]
    """Access token by principal label."""
    servers: tuple[str, ...]
    admin: str
    """The admin's token (admin API calls)."""


# Role and teams of each seeded principal, by label (also its username).
PRINCIPALS = {
    "admin": ("admin", ()),
    "lead-alpha": ("team_lead", ("alpha",)),
    "dev-alpha": ("developer", ("alpha",)),
    "dev-beta": ("developer", ("beta",)),
    "viewer-beta": ("viewer", ("beta",)),
    "service-alpha": ("service", ("alpha",)),
}
SERVERS = {"srv-alpha": ("alpha", "medium"), "srv-beta": ("beta", "low")}


def _ok(response: httpx.Response, *codes: int) -> Any:
    if response.status_code not in codes:
        msg = f"{response.request.method} {response.request.url}: {response.status_code} "
        raise AssertionError(msg + response.text)
    return response.json() if response.content else None


async def _login(client: httpx.AsyncClient, username: str, password: str) -> str:
    body = _ok(
        await client.post("/api/v1/auth/login", json={"username": username, "password": password}),
        200,
    )
    token: str = body["access_token"]
    return token


async def seed(base: str) -> Seeded:
    """Teams, one user per label of :data:`PRINCIPALS`, the servers of :data:`SERVERS`."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        admin = await _login(client, "admin", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {admin}"}
        for team in ("alpha", "beta"):
            _ok(await client.post("/api/v1/teams", json={"name": team}, headers=headers), 201)
        tokens = {"admin": admin}
        for label, (role, teams) in PRINCIPALS.items():
            if label == "admin":
                continue
            user = {"username": label, "password": USER_PASSWORD, "role": role,
                    "teams": list(teams)}  # fmt: skip
            _ok(await client.post("/api/v1/users", json=user, headers=headers), 201)
            tokens[label] = await _login(client, label, USER_PASSWORD)
        for name, (team, level) in SERVERS.items():
            server = {
                "name": name,
                "transport": "http",
                "endpoint": f"http://127.0.0.1:9/{name}",
                "sensitivity_level": level,
                "team": team,
                "tools": [{"name": f"tool-{s}", "sensitivity_level": s} for s in SENSITIVITIES],
            }
            _ok(await client.post("/api/v1/servers", json=server, headers=headers), 201)
    seeded = Seeded(tokens=tokens, servers=tuple(SERVERS), admin=admin)
    await wait_catalog_everywhere(base, seeded)
    return seeded


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Case:
    """One question a client asks again and again."""

    principal: str
    endpoint: str
    """``evaluate`` or ``authorize`` (gateway)."""
    server: str
    tool: str
    unique: bool
    """Adds a fresh parameter each time: never a decision-cache hit (the engine answers)."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What the reference decision depends on (the nonce parameter does not matter)."""
        return (self.principal, self.endpoint, self.server, self.tool)

    def request(self, nonce: int) -> tuple[str, dict[str, Any]]:
        """Path and JSON body of one request."""
        parameters: dict[str, Any] = {"query": "select 1", "password": "hunter2"}
        if self.unique:
            parameters["nonce"] = nonce
        if self.endpoint == "evaluate":
            body = {"action": "tool:invoke", "server": self.server, "tool": self.tool,
                    "parameters": parameters}  # fmt: skip
            return "/api/v1/policy/evaluate", body
        body = {"action": "gateway:tool:invoke", "server_name": self.server,
                "tool_name": self.tool, "parameters": parameters}  # fmt: skip
        return "/api/v1/gateway/authorize", body


def cases(*, gateway: bool) -> list[Case]:
    """Every principal x server x tool, on both endpoints, cached and uncached."""
    endpoints = ("evaluate", "authorize") if gateway else ("evaluate",)
    return [
        Case(principal, endpoint, server, f"tool-{level}", unique)
        for principal in PRINCIPALS
        for endpoint in endpoints
        for server in SERVERS
        for level in SENSITIVITIES
        for unique in (False, True)
    ]


@dataclass
class Outcome:
    """What one request got."""

    case: Case
    phase: str
    started: float
    ended: float
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None

    @property
    def decision_id(self) -> str | None:
        """The decision (audit) id of a 200."""
        if self.status != 200 or self.body is None:
            return None
        value = self.body.get("decision_id") or self.body.get("audit_id")
        return str(value) if value else None

    @property
    def allow(self) -> bool | None:
        """The decision of a 200."""
        return None if self.body is None else self.body.get("allow")

    @property
    def reason(self) -> str:
        """The reason of a 200."""
        return "" if self.body is None else str(self.body.get("reason", ""))


@dataclass
class Load:
    """Concurrent clients asking :func:`cases` round-robin until stopped."""

    base: str
    seeded: Seeded
    cases: list[Case]
    clients: int = 6
    phase: str = "before"
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _nonce: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        """Start the clients."""
        for number in range(self.clients):
            self._tasks.append(asyncio.create_task(self._client(number)))

    async def stop(self) -> list[Outcome]:
        """Stop after the requests in flight; every outcome recorded."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.outcomes

    async def run_for(self, seconds: float) -> None:
        """Let the load run ``seconds`` more."""
        await asyncio.sleep(seconds)

    def since(self, phase: str) -> list[Outcome]:
        """Outcomes of requests started in ``phase``."""
        return [o for o in self.outcomes if o.phase == phase]

    async def _client(self, number: int) -> None:
        order = self.cases[number::1] + self.cases[:number]
        async with httpx.AsyncClient(base_url=self.base, timeout=httpx.Timeout(60.0)) as client:
            for case in itertools.cycle(order):
                if self._stop.is_set():
                    return
                path, body = case.request(next(self._nonce))
                token = self.seeded.tokens[case.principal]
                outcome = Outcome(case, self.phase, time.monotonic(), 0.0)
                try:
                    response = await client.post(
                        path, json=body, headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx.HTTPError as exc:
                    outcome.error = f"{type(exc).__name__}: {exc}"
                else:
                    outcome.status = response.status_code
                    with contextlib.suppress(ValueError):
                        outcome.body = response.json()
                outcome.ended = time.monotonic()
                self.outcomes.append(outcome)


async def wait_catalog_everywhere(base: str, seeded: Seeded, within: float = 60) -> None:
    """Wait until every worker knows the seeded catalog.

    A worker sees catalog writes made through another worker within its refresh interval
    (``CatalogFacts``, 2 s): until then it answers ``unknown_server``. Fresh connections
    land on either worker.
    """
    body = {"action": "tool:invoke", "server": seeded.servers[-1], "tool": "tool-low"}
    headers = {"Authorization": f"Bearer {seeded.admin}"}
    deadline = time.monotonic() + within
    streak = 0
    while streak < 20:
        assert time.monotonic() < deadline, "the catalog did not reach every worker"
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            data = _ok(
                await client.post("/api/v1/policy/evaluate", json=body, headers=headers), 200
            )
        streak = streak + 1 if data["reason"] != "unknown_server" else 0
        if not streak:
            await asyncio.sleep(0.5)


async def reference(base: str, seeded: Seeded, all_cases: list[Case]) -> dict[Any, set[Any]]:
    """The decision of every case with every dependency up: ``{case.key: {(allow, reason)}}``.

    Each question goes on a fresh connection, so both workers answer some of them.
    """
    found: dict[Any, set[Any]] = {}
    for case in all_cases:
        path, body = case.request(-1)
        headers = {"Authorization": f"Bearer {seeded.tokens[case.principal]}"}
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            data = _ok(await client.post(path, json=body, headers=headers), 200)
        assert not is_failure_reason(data["reason"]), (case, data)
        found.setdefault(case.key, set()).add((data["allow"], data["reason"]))
    return found


def merge(first: dict[Any, set[Any]], second: dict[Any, set[Any]]) -> dict[Any, set[Any]]:
    """Both references (a business-hours boundary may fall between them)."""
    return {key: first[key] | second.get(key, set()) for key in first}


@dataclass
class Report:
    """Counts of what the clients saw."""

    total: int
    by_phase: dict[str, Counter[str]]
    failures: list[Outcome]
    """Fail-closed denies (reason naming a failure)."""


def check_responses(outcomes: list[Outcome], expected: dict[Any, set[Any]]) -> Report:
    """Assert the client-side contract; the counts for further assertions."""
    errors = [o for o in outcomes if o.error is not None]
    assert not errors, f"{len(errors)} transport errors, first: {errors[0].error}"
    server_errors = [o for o in outcomes if o.status is not None and o.status >= 500]
    assert not server_errors, f"{len(server_errors)} 5xx, first: {server_errors[0].body}"
    others = [o for o in outcomes if o.status != 200]
    assert not others, f"{len(others)} non-200, first: {others[0].status} {others[0].body}"
    by_phase: dict[str, Counter[str]] = {}
    failures = []
    for outcome in outcomes:
        counter = by_phase.setdefault(outcome.phase, Counter())
        if outcome.body is None or outcome.decision_id is None:
            msg = f"200 without a decision: {outcome.case} {outcome.body}"
            raise AssertionError(msg)
        if (outcome.allow, outcome.reason) in expected[outcome.case.key]:
            counter["reference"] += 1
            continue
        # Not the reference: only a fail-closed deny naming the failure is acceptable.
        assert outcome.allow is False, (
            f"allowed where the reference says {expected[outcome.case.key]}: "
            f"{outcome.case} {outcome.body}"
        )
        assert is_failure_reason(outcome.reason), (
            f"deny with reason {outcome.reason!r} where the reference says "
            f"{expected[outcome.case.key]}: {outcome.case}"
        )
        counter["fail_closed"] += 1
        failures.append(outcome)
    return Report(len(outcomes), by_phase, failures)


# --------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class StoredEvent:
    """One ``audit_events`` row, as far as the fault tests care."""

    decision_id: str | None
    seq: int
    inserted: int
    """Insertion order: PostgreSQL's ``xmin`` (transaction id), SQLite's ``rowid``."""
    id: str = ""
    occurred_at: str = ""
    kind: str = ""
    summary: str = ""
    """kind, action, principal, reason, engine and details (for failure messages)."""


async def stored_events(database_url: str) -> list[StoredEvent]:
    """Every audit row (straight from the database, not through SARK)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute(
                "SELECT decision_id, seq, rowid, id, occurred_at, kind, action FROM audit_events"
            ).fetchall()
        return [StoredEvent(r[0], int(r[1]), int(r[2]), str(r[3]), str(r[4]), r[5], r[6])
                for r in rows]  # fmt: skip
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch(
            "SELECT decision_id, seq, xmin::text::bigint AS inserted, id::text AS id, kind,"
            " occurred_at::text AS occurred_at, concat_ws(' ', kind, action, principal_id,"
            " reason, engine, request_id, details::text) AS summary FROM audit_events"
        )
    finally:
        await connection.close()
    return [
        StoredEvent(
            r["decision_id"],
            int(r["seq"]),
            int(r["inserted"]),
            r["id"],
            r["occurred_at"],
            r["kind"],
            r["summary"],
        )
        for r in rows
    ]


def decision_counts(events: list[StoredEvent]) -> Counter[str]:
    """How many decision rows each decision id has.

    Other events may cite a decision (a server registration's ``catalog`` event carries the
    id of the decision that allowed it): only ``kind = 'decision'`` rows are the decision.
    """
    return Counter(e.decision_id for e in events if e.decision_id and e.kind == "decision")


async def wait_audited(database_url: str, decision_ids: set[str], within: float = 90) -> None:
    """Poll the database until every id of ``decision_ids`` is stored (bounded)."""
    deadline = time.monotonic() + within
    missing = decision_ids
    while time.monotonic() < deadline:
        stored = decision_counts(await stored_events(database_url))
        missing = decision_ids - set(stored)
        if not missing:
            return
        await asyncio.sleep(0.5)
    msg = f"{len(missing)} of {len(decision_ids)} decisions never reached audit_events"
    raise AssertionError(msg)


def check_audit(events: list[StoredEvent], decision_ids: set[str]) -> None:
    """Every decision the clients got is stored exactly once."""
    counts = decision_counts(events)
    missing = decision_ids - set(counts)
    assert not missing, f"{len(missing)} decisions missing from audit_events"
    duplicated = {d: n for d, n in counts.items() if n > 1}
    copies = [e for e in events if e.decision_id in duplicated]
    assert not duplicated, f"decisions stored more than once: {copies[:6]}"


def check_writer_order(events: list[StoredEvent], writers: list[tuple[int, int]]) -> int:
    """Rows of each writer were inserted in the order the writer recorded them.

    A writer numbers its events ``first_seq + n * SEQ_STRIDE`` (``first_seq`` is the clock
    in ns moved up to the remainder of its pid; the spool directory ``<first_seq>-<pid>``
    names it), so a row belongs to the writer whose ``first_seq`` has the row's remainder
    modulo ``SEQ_STRIDE`` — the workers of one server start microseconds apart, so their
    ranges interleave and only the remainder tells them apart. "Order kept" then means:
    within one writer, a higher ``seq`` was never inserted by an earlier transaction than
    a lower one. Returns the number of writers checked.
    """
    seqs = Counter(e.seq for e in events)
    assert max(seqs.values()) == 1, "two writers used the same seq: cannot attribute rows"
    slots = {first % SEQ_STRIDE: first for first, _ in writers}
    assert len(slots) == len(writers), f"writers share a remainder: {writers}"
    by_writer: dict[int, list[StoredEvent]] = {}
    for event in events:
        first = slots.get(event.seq % SEQ_STRIDE)
        if first is not None and first < event.seq:  # else a process before the server
            by_writer.setdefault(first, []).append(event)
    for first, rows in by_writer.items():
        rows.sort(key=lambda e: e.seq)
        for earlier, later in itertools.pairwise(rows):
            assert earlier.inserted <= later.inserted, (
                f"writer {first}: seq {later.seq} inserted before seq {earlier.seq}"
            )
    return len(by_writer)


def new_id() -> str:
    """A short unique id (test names)."""
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """Private PostgreSQL, Redis and OPA, and a SARK served against them."""

    postgres: Any
    redis: Any
    opa: OpaServer
    sark: SarkProcess


@contextlib.contextmanager
def full_stack(
    home: Path, env: Mapping[str, str] | None = None, workers: int = 2
) -> Iterator[Stack]:
    """Start every dependency (private, restartable) and ``sark serve`` with the gateway on."""
    from tests.support.services import private_postgres, private_redis

    with private_postgres() as postgres, private_redis() as redis, private_opa() as opa:
        settings = {
            "SARK_DATABASE_URL": postgres.url,
            "SARK_REDIS_URL": redis.url,
            "SARK_OPA_URL": opa.url,
            "GATEWAY_ENABLED": "true",
            **(env or {}),
        }
        with running_sark(home, settings, workers=workers) as sark:
            yield Stack(postgres, redis, opa, sark)


async def probe_decision(base: str, token: str, server: str, tool: str) -> dict[str, Any]:
    """One uncacheable evaluate on a fresh connection (either worker answers)."""
    body = {"action": "tool:invoke", "server": server, "tool": tool,
            "parameters": {"nonce": uuid.uuid4().hex}}  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        response = await client.post(
            "/api/v1/policy/evaluate", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    data: dict[str, Any] = _ok(response, 200)
    return data


async def wait_until(check: Any, what: str, within: float = 60, streak: int = 1) -> None:
    """Await ``check()`` until it is true ``streak`` times in a row (bounded)."""
    deadline = time.monotonic() + within
    seen = 0
    while seen < streak:
        if time.monotonic() > deadline:
            msg = f"{what}: not within {within:.0f}s"
            raise AssertionError(msg)
        ok = False
        with contextlib.suppress(Exception):
            ok = bool(await check())
        seen = seen + 1 if ok else 0
        if not ok:
            await asyncio.sleep(0.3)
