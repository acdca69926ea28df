"""Live discovery: list the tools of a real MCP server with the official ``mcp`` SDK.

Streamable HTTP (transport ``http``), SSE (``sse``) and stdio (``stdio``: SARK starts the
command as a child process with a minimal environment) are supported. The whole exchange
(connect, initialize, every ``tools/list`` page) runs under one timeout; any failure is a
:class:`~sark.core.errors.DiscoveryError` naming the server and the cause.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import IO, Any, Final, TextIO, cast

import anyio
import msgspec
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import PaginatedRequestParams

from sark.api.domain.catalog.sensitivity import normalize_annotations
from sark.core.errors import DiscoveryError, DiscoveryTimeoutError

log = logging.getLogger("sark.catalog.discovery")

DEFAULT_TIMEOUT: Final = 20.0
MAX_PAGES: Final = 100
"""A server whose cursor never ends cannot keep discovery busy forever."""
_STDERR_TAIL: Final = 2000


class DiscoveredTool(msgspec.Struct, frozen=True, kw_only=True):
    """A tool as the server describes it (MCP wire names in ``annotations``)."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    annotations: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def definition_hash(self) -> str:
        """Hash of this definition, as stored in the catalog."""
        return definition_hash(self.name, self.description, self.input_schema, self.annotations)


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to reach an MCP server."""

    name: str
    transport: str
    endpoint: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()


def definition_hash(
    name: str,
    description: str | None,
    input_schema: dict[str, Any] | None,
    annotations: dict[str, Any] | None,
) -> str:
    """sha256 of the canonical JSON (sorted keys) of a tool's definition."""
    document = {
        "name": name,
        "description": description or "",
        "inputSchema": input_schema or {},
        "annotations": normalize_annotations(annotations),
    }
    return hashlib.sha256(msgspec.json.encode(document, order="sorted")).hexdigest()


async def list_tools(
    target: Target, *, time_limit: float = DEFAULT_TIMEOUT
) -> list[DiscoveredTool]:
    """Every tool ``target`` lists, following ``tools/list`` cursors.

    Raises:
        DiscoveryTimeoutError: the server did not answer within ``time_limit`` seconds.
        DiscoveryError: the server could not be reached or answered with an error.
    """
    # A real file: a stdio server's stderr is handed to the child process as is.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            with anyio.fail_after(time_limit):
                async with _connect(target, errlog) as session:
                    await session.initialize()
                    return await _all_tools(session)
        except TimeoutError:
            msg = f"MCP server {target.name!r} did not answer within {time_limit:g}s"
            raise DiscoveryTimeoutError(msg) from None
        except DiscoveryError:
            raise
        except Exception as exc:
            cause = _describe(exc)
            log.warning("discovery of %s failed: %s", target.name, cause)
            msg = f"cannot list the tools of MCP server {target.name!r}: {cause}"
            stderr = _tail(errlog)
            if stderr:
                msg += f" (server stderr: {stderr})"
            raise DiscoveryError(msg) from None


def _tail(errlog: IO[str]) -> str:
    errlog.seek(0)
    lines = errlog.read()[-_STDERR_TAIL:].strip().splitlines()
    return lines[-1][:300] if lines else ""


async def _all_tools(session: ClientSession) -> list[DiscoveredTool]:
    tools: list[DiscoveredTool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        for tool in page.tools:
            wire = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
            tools.append(
                DiscoveredTool(
                    name=tool.name,
                    description=tool.description or "",
                    input_schema=wire.get("inputSchema") or {},
                    annotations=wire.get("annotations") or {},
                )
            )
        cursor = page.next_cursor
        if not cursor:
            return tools
    msg = f"the tool listing did not end after {MAX_PAGES} pages"
    raise DiscoveryError(msg)


@asynccontextmanager
async def _connect(target: Target, errlog: IO[str]) -> AsyncIterator[ClientSession]:
    transport: AbstractAsyncContextManager[Any]
    if target.transport == "stdio":
        if not target.command:
            raise DiscoveryError(f"server {target.name!r} has no command to start")
        params = StdioServerParameters(command=target.command, args=list(target.args))
        transport = stdio_client(params, errlog=cast("TextIO", errlog))
    elif target.transport == "sse":
        transport = sse_client(_endpoint(target))
    else:
        transport = streamable_http_client(_endpoint(target))
    async with transport as streams, ClientSession(streams[0], streams[1]) as session:
        yield session


def _endpoint(target: Target) -> str:
    if not target.endpoint:
        raise DiscoveryError(f"server {target.name!r} has no endpoint")
    return target.endpoint


def _describe(exc: BaseException) -> str:
    # Transports raise inside task groups: report the innermost real cause.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


__all__ = ["DEFAULT_TIMEOUT", "DiscoveredTool", "Target", "definition_hash", "list_tools"]
