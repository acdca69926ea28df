"""Live discovery against real MCP servers (SDK-built, PyPI and npm reference servers)."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest
from tests.support.services import free_port, unavailable, wait_for

from sark.api.domain.catalog import destinations
from sark.api.domain.catalog.schemas import ServerUpdate
from sark.core.errors import DiscoveryError, DiscoveryTimeoutError, PermissionDeniedError
from sark.core.models import Sensitivity

from .conftest import ADMIN, LEAD, Catalog, catalog_audit, server_create

FIXTURE_SERVER = Path(__file__).with_name("mcp_fixture_server.py")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class HttpMcp:
    """The fixture MCP server over HTTP in a subprocess; restartable with another variant."""

    def __init__(self, transport: str, variant_file: Path) -> None:
        self.transport = transport
        self.variant_file = variant_file
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        path = "/mcp" if self.transport == "http" else "/sse"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        args = [sys.executable, str(FIXTURE_SERVER), self.transport, str(self.port)]
        self.process = subprocess.Popen(
            [*args, str(self.variant_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: _port_open(self.port), f"MCP fixture server ({self.transport})")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(name="variant_file")
def fixture_variant_file(tmp_path: Path) -> Path:
    path = tmp_path / "variant.txt"
    path.write_text("v1")
    return path


@pytest.fixture(name="http_mcp")
def fixture_http_mcp(variant_file: Path) -> Iterator[HttpMcp]:
    server = HttpMcp("http", variant_file)
    server.start()
    yield server
    server.stop()


async def _tools(catalog: Catalog, name: str) -> dict[str, object]:
    server = await catalog.servers.find(name)
    return {t.name: t for t in (await catalog.servers.tools_of([server.id]))[server.id]}


async def test_streamable_http_discovery_and_drift(
    catalog: Catalog, http_mcp: HttpMcp, variant_file: Path
) -> None:
    await catalog.servers.register(ADMIN, server_create("fixture", "high", endpoint=http_mcp.url))
    result = await catalog.servers.discover(LEAD, "fixture")
    assert sorted(result.added) == ["delete_record", "lookup_user", "send_message"]
    assert result.removed == result.changed == result.unchanged == []
    tools = await _tools(catalog, "fixture")
    lookup, delete = tools["lookup_user"], tools["delete_record"]
    assert (lookup.derived_sensitivity, lookup.derivation_rule) == (
        "low",
        "annotation:readOnlyHint",
    )  # type: ignore[attr-defined]
    assert delete.annotations == {"destructiveHint": True}  # type: ignore[attr-defined]
    assert delete.derived_sensitivity == "high"  # type: ignore[attr-defined]
    facts = await catalog.runtime.catalog.resolve("fixture", "lookup_user")
    assert facts.tool is not None
    assert facts.tool["sensitivity_level"] == "low"

    # Same definitions: nothing changes, not even the version.
    again = await catalog.servers.discover(ADMIN, "fixture")
    assert sorted(again.unchanged) == ["delete_record", "lookup_user", "send_message"]
    assert again.version == result.version

    # A person raises delete_record to critical and lookup_user to medium.
    await catalog.tools.override(ADMIN, delete.id, Sensitivity.CRITICAL, "prod data")  # type: ignore[attr-defined]
    await catalog.tools.override(ADMIN, lookup.id, Sensitivity.MEDIUM, "PII")  # type: ignore[attr-defined]

    # The server silently changes its tools.
    http_mcp.stop()
    await anyio.Path(variant_file).write_text("v2")
    http_mcp.start()
    drift = await catalog.servers.discover(ADMIN, "fixture")
    assert drift.added == ["get_time"]
    assert drift.removed == ["send_message"]
    assert sorted(drift.changed) == ["delete_record", "lookup_user"]
    assert drift.version > again.version

    tools = await _tools(catalog, "fixture")
    assert sorted(tools) == ["delete_record", "get_time", "lookup_user"]
    lookup, delete = tools["lookup_user"], tools["delete_record"]
    # lookup_user now takes a password: re-derived critical, the old override is gone.
    assert lookup.drifted is True  # type: ignore[attr-defined]
    assert lookup.derivation_rule.startswith("secrets:password@")  # type: ignore[attr-defined]
    assert lookup.sensitivity_override is None  # type: ignore[attr-defined]
    # delete_record re-derives high, but a drift never lowers: critical is kept, by discovery.
    assert delete.derived_sensitivity == "high"  # type: ignore[attr-defined]
    assert delete.sensitivity_override == "critical"  # type: ignore[attr-defined]
    facts = await catalog.runtime.catalog.resolve("fixture", "lookup_user")
    assert facts.tool is not None
    assert facts.tool["sensitivity_level"] == "critical"
    removed = await catalog.runtime.catalog.resolve("fixture", "send_message")
    assert removed.tool == {"name": "send_message", "registered": False}

    history = await catalog.tools.history(ADMIN, lookup.id)  # type: ignore[attr-defined]
    assert [(h.old_level, h.new_level, h.changed_by) for h in history] == [
        ("low", "medium", "u-admin"),
        ("medium", "critical", "discovery"),
    ]
    events = await catalog_audit(catalog.runtime, "tool.drift")
    assert sorted(e["resource"] for e in events) == [
        "server:fixture/tool:delete_record",
        "server:fixture/tool:lookup_user",
    ]
    by_tool = {e["details"]["tool"]: e["details"] for e in events}
    assert by_tool["lookup_user"]["new_level"] == "critical"
    assert by_tool["lookup_user"]["old_hash"] != by_tool["lookup_user"]["new_hash"]

    # A person's review clears the drift flag.
    await catalog.tools.override(ADMIN, lookup.id, None, "reviewed")  # type: ignore[attr-defined]
    assert (await _tools(catalog, "fixture"))["lookup_user"].drifted is False  # type: ignore[attr-defined]


async def test_sse_discovery(catalog: Catalog, variant_file: Path) -> None:
    server = HttpMcp("sse", variant_file)
    server.start()
    try:
        await catalog.servers.register(
            ADMIN, server_create("sse-fixture", transport="sse", endpoint=server.url)
        )
        result = await catalog.servers.discover(ADMIN, "sse-fixture")
    finally:
        server.stop()
    assert sorted(result.added) == ["delete_record", "lookup_user", "send_message"]


def _stdio(name: str, *args: str) -> object:
    return server_create(
        name, transport="stdio", endpoint=None, command=sys.executable, args=list(args)
    )


async def test_stdio_discovery_with_drift(catalog: Catalog, variant_file: Path) -> None:
    await catalog.servers.register(
        ADMIN,
        _stdio("stdio-fixture", str(FIXTURE_SERVER), "stdio", str(variant_file)),  # type: ignore[arg-type]
    )
    # Discovery of a stdio server runs a command on the SARK host: admins only.
    with pytest.raises(PermissionDeniedError, match="admin"):
        await catalog.servers.discover(LEAD, "stdio-fixture")
    first = await catalog.servers.discover(ADMIN, "stdio-fixture")
    assert sorted(first.added) == ["delete_record", "lookup_user", "send_message"]
    await anyio.Path(variant_file).write_text("v2")
    second = await catalog.servers.discover(ADMIN, "stdio-fixture")
    assert (second.added, second.removed) == (["get_time"], ["send_message"])
    assert sorted(second.changed) == ["delete_record", "lookup_user"]


async def test_mcp_server_time_from_pypi(catalog: Catalog) -> None:
    await catalog.servers.register(ADMIN, _stdio("time", "-m", "mcp_server_time"))  # type: ignore[arg-type]
    result = await catalog.servers.discover(ADMIN, "time")
    assert sorted(result.added) == ["convert_time", "get_current_time"]
    tools = await _tools(catalog, "time")
    assert tools["get_current_time"].derived_sensitivity == "low"  # type: ignore[attr-defined]
    assert "timezone" in json.dumps(tools["get_current_time"].input_schema)  # type: ignore[attr-defined]


@pytest.fixture(name="everything_server", scope="session")
def fixture_everything_server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """@modelcontextprotocol/server-everything installed once per session from npm."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        unavailable("npm/node", "not on PATH")
    prefix = tmp_path_factory.mktemp("npm-everything")
    package = "@modelcontextprotocol/server-everything"
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", package],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        unavailable(package, f"npm install failed: {done.stderr.strip()[-300:]}")
    root = prefix / "node_modules" / package
    manifest = json.loads((root / "package.json").read_text())
    bin_entry = manifest["bin"]
    script = bin_entry if isinstance(bin_entry, str) else next(iter(bin_entry.values()))
    return root / script


async def test_server_everything_from_npm(catalog: Catalog, everything_server: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    await catalog.servers.register(
        ADMIN,
        server_create(
            "everything", transport="stdio", endpoint=None, command=node,
            args=[str(everything_server), "stdio"],
        ),
    )  # fmt: skip
    result = await catalog.servers.discover(ADMIN, "everything", time_limit=60)
    assert "echo" in result.added
    tools = await _tools(catalog, "everything")
    assert tools["echo"].derived_sensitivity == "low"  # type: ignore[attr-defined]
    assert len(tools) == len(result.added) >= 5


async def test_unreachable_server_is_a_502_and_changes_nothing(catalog: Catalog) -> None:
    port = free_port()
    server = await catalog.servers.register(
        ADMIN, server_create("dead", endpoint=f"http://127.0.0.1:{port}/mcp")
    )
    with pytest.raises(DiscoveryError, match="cannot list the tools of MCP server 'dead'") as info:
        await catalog.servers.discover(ADMIN, "dead", time_limit=10)
    assert not isinstance(info.value, DiscoveryTimeoutError)
    assert (await catalog.servers.find("dead")).version == server.version
    assert await _tools(catalog, "dead") == {}


async def test_missing_stdio_command_is_a_discovery_error(catalog: Catalog, tmp_path: Path) -> None:
    await catalog.servers.register(
        ADMIN,
        server_create("nocmd", transport="stdio", endpoint=None, command=str(tmp_path / "nope")),
    )
    with pytest.raises(DiscoveryError, match="'nocmd'"):
        await catalog.servers.discover(ADMIN, "nocmd", time_limit=10)


@pytest.fixture(name="silent_port")
def fixture_silent_port() -> Iterator[int]:
    """A loopback TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


async def test_silent_server_times_out(catalog: Catalog, silent_port: int) -> None:
    await catalog.servers.register(
        ADMIN, server_create("silent", endpoint=f"http://127.0.0.1:{silent_port}/mcp")
    )
    with pytest.raises(DiscoveryTimeoutError, match="did not answer within 1s"):
        await catalog.servers.discover(ADMIN, "silent", time_limit=1.0)


async def test_decommissioned_server_is_not_discovered(catalog: Catalog, http_mcp: HttpMcp) -> None:
    await catalog.servers.register(ADMIN, server_create("retired", endpoint=http_mcp.url))
    await catalog.servers.edit(ADMIN, "retired", ServerUpdate(status="decommissioned"))
    with pytest.raises(Exception, match="decommissioned"):
        await catalog.servers.discover(ADMIN, "retired")


def _allow(catalog: Catalog, monkeypatch: pytest.MonkeyPatch, networks: str) -> None:
    """Run the rest of the test with ``SARK_DISCOVERY_ALLOWED_NETWORKS=networks``."""
    settings = catalog.runtime.settings
    narrowed = msgspec.structs.replace(
        settings, discovery=msgspec.structs.replace(settings.discovery, allowed_networks=networks)
    )
    monkeypatch.setattr(catalog.runtime, "settings", narrowed)


async def test_discovery_never_connects_to_link_local_addresses(catalog: Catalog) -> None:
    server = await catalog.servers.register(
        ADMIN, server_create("metadata", endpoint="http://169.254.169.254/latest/mcp")
    )
    with pytest.raises(PermissionDeniedError, match=r"169\.254\.169\.254\).*link-local"):
        await catalog.servers.discover(ADMIN, "metadata")
    assert (await catalog.servers.find("metadata")).version == server.version
    assert await _tools(catalog, "metadata") == {}


async def test_discovery_keeps_to_the_allowed_networks(
    catalog: Catalog, http_mcp: HttpMcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    await catalog.servers.register(ADMIN, server_create("local", endpoint=http_mcp.url))
    by_name = http_mcp.url.replace("127.0.0.1", "localhost")
    await catalog.servers.register(ADMIN, server_create("by-name", endpoint=by_name))
    _allow(catalog, monkeypatch, "10.0.0.0/8")
    with pytest.raises(PermissionDeniedError, match="outside SARK_DISCOVERY_ALLOWED_NETWORKS"):
        await catalog.servers.discover(ADMIN, "local")
    # a name is judged by every address it resolves to
    with pytest.raises(PermissionDeniedError, match=r"localhost \((127\.0\.0\.1|::1)\)"):
        await catalog.servers.discover(ADMIN, "by-name")
    assert await _tools(catalog, "local") == {}
    _allow(catalog, monkeypatch, "10.0.0.0/8,127.0.0.0/8,::1/128")
    assert sorted((await catalog.servers.discover(ADMIN, "local")).added) == [
        "delete_record", "lookup_user", "send_message"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("address", "allowed", "refused"),
    [
        ("169.254.169.254", "", True),  # cloud metadata
        ("::ffff:169.254.169.254", "", True),  # the same, IPv4-mapped
        ("fe80::1", "", True),
        ("0.0.0.0", "", True),
        ("224.0.0.1", "", True),
        ("127.0.0.1", "", False),
        ("10.1.2.3", "", False),
        ("10.1.2.3", "10.0.0.0/8", False),
        ("10.1.2.3", "192.168.0.0/16", True),
        ("169.254.169.254", "169.254.169.254/32", False),  # listed on purpose
        ("::1", "127.0.0.0/8", True),
    ],
)
def test_refusal_rules(address: str, allowed: str, refused: bool) -> None:
    networks = destinations.networks(allowed)
    assert (destinations.refusal(ipaddress.ip_address(address), networks) is not None) is refused
