"""Real PostgreSQL, Redis and OPA servers for the test session.

Each service is found through its ``SARK_TEST_*_URL`` variable, else started from binaries
on PATH (on loopback, in a temporary directory, stopped at the end of the session), else
the test skips with a reason naming the service. Under ``CI=true`` that skip is a failure:
CI installs every service, so a missing one is a broken pipeline, not an optional test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(service: str, why: str) -> NoReturn:
    """Skip (locally) or fail (CI) a test that needs ``service``."""
    message = f"{service} is not available: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every service must be present)")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    msg = f"{what} did not become ready within {timeout:.0f}s"
    raise TimeoutError(msg)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; drop to the postgres account when we are root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def _start_postgres() -> Iterator[str]:
    bindir = _postgres_bin()
    if bindir is None:
        unavailable("PostgreSQL", "set SARK_TEST_DATABASE_URL or install postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="sark-pg-"))
    data = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                           "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                           str(workdir / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                               "stop"]),
            check=False,
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


class PostgresServer:
    """A private PostgreSQL server a test may stop and start again (outage tests)."""

    def __init__(self, bindir: Path, workdir: Path, port: int) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data"),
                               *args]),
            check=True,
            capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        """Start the server (again) on the same port and data directory."""
        # Durable settings (unlike the session server): an immediate stop is a crash, and a
        # commit acknowledged with synchronous_commit=off could vanish with it.
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.workdir / "log"), "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (connections are cut)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server of the test's own (skips when PostgreSQL is not installed)."""
    bindir = _postgres_bin()
    if bindir is None:
        unavailable("PostgreSQL", "install postgresql to start a private server")
    workdir = Path(tempfile.mkdtemp(prefix="sark-pg-private-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    subprocess.run(
        _as_postgres_user([str(bindir / "initdb"), "-D", str(workdir / "data"), "-A", "trust",
                           "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = PostgresServer(bindir, workdir, free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """``SARK_TEST_DATABASE_URL`` (a server's maintenance database), else a server of our own."""
    url = os.environ.get("SARK_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with _start_postgres() as started:
        yield started


@pytest.fixture(scope="session", name="postgres_server_url")
def fixture_postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database (``postgres``)."""
    with postgres_server() as url:
        yield url


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _database_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _database_url(server_url: str, name: str) -> str:
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "sark_test") -> Iterator[str]:
    """A new, empty database on ``server_url``, dropped afterwards (outside an event loop)."""
    name = _database_name(prefix)
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _database_url(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(name="postgres_url")
async def fixture_postgres_url(postgres_server_url: str) -> Iterator[str]:  # type: ignore[misc]
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = _database_name("sark_test")
    await _admin(postgres_server_url, f'CREATE DATABASE "{name}"')
    yield _database_url(postgres_server_url, name)
    await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A private Redis server a test may kill and start again on the same port."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (again) on the same port, empty (no persistence)."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: _port_open(self.port), "redis-server")

    def kill(self) -> None:
        """SIGKILL the server (connections are cut, nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    """A fresh Redis server of the test's own (skips when redis-server is not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("Redis", "install redis-server to start a private server")
    server = RedisServer(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            _stop(server.process)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """``SARK_TEST_REDIS_URL``, else a Redis server of our own (database 0)."""
    url = os.environ.get("SARK_TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        unavailable("Redis", "set SARK_TEST_REDIS_URL or install redis-server")
    with private_redis() as server:
        yield server.url


@pytest.fixture(scope="session", name="redis_server_url")
def fixture_redis_server_url() -> Iterator[str]:
    """URL of a Redis server (database 0 is flushed by ``redis_url`` before each test)."""
    with redis_server() as url:
        yield url


@pytest.fixture(name="redis_url")
async def fixture_redis_url(redis_server_url: str) -> str:
    """The Redis URL, with the database emptied so no test sees another's keys."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return redis_server_url


# --------------------------------------------------------------------------- OPA


def opa_binary() -> str | None:
    """The ``opa`` executable: on PATH or where ``go install`` puts it."""
    found = shutil.which("opa")
    if found:
        return found
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "opa"
    return str(gopath) if gopath.exists() else None


def _opa_healthy(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
        return bool(response.status == 200)


@contextlib.contextmanager
def start_opa() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a fresh OPA server on loopback (tests that stop OPA use their own)."""
    binary = opa_binary()
    if binary is None:
        unavailable("OPA", "set SARK_TEST_OPA_URL or `go install` the opa binary")
    port = free_port()
    process = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _opa_healthy(url), "opa")
        yield url, process
    finally:
        _stop(process)


@pytest.fixture(scope="session", name="opa_url")
def fixture_opa_url() -> Iterator[str]:
    """URL of an OPA server (SARK pushes its bundle there itself)."""
    url = os.environ.get("SARK_TEST_OPA_URL")
    if url:
        yield url.rstrip("/")
        return
    with start_opa() as (started, _):
        yield started
