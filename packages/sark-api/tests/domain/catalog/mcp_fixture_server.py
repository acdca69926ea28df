"""A real MCP server built with the SDK, for discovery tests.

    python mcp_fixture_server.py stdio VARIANT_FILE
    python mcp_fixture_server.py http PORT VARIANT_FILE     (streamable HTTP at /mcp)
    python mcp_fixture_server.py sse PORT VARIANT_FILE      (SSE at /sse)

VARIANT_FILE holds ``v1`` or ``v2``; it is read at start, so a test changes the tools by
rewriting it and restarting (HTTP) or rediscovering (stdio starts a new process each time).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


def build(variant: str) -> MCPServer:
    server = MCPServer("sark-fixture")

    if variant == "v1":

        @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
        def lookup_user(user_id: str) -> str:
            """Look up a user by id."""
            return user_id

        @server.tool(annotations=ToolAnnotations(destructiveHint=True))
        def delete_record(record_id: str) -> str:
            """Delete one record."""
            return record_id

        @server.tool()
        def send_message(to: str, body: str) -> str:
            """Send a message."""
            return to + body

    else:

        @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
        def lookup_user(user_id: str, password: str) -> str:
            """Look up a user by id (now checks a password)."""
            return user_id + password

        @server.tool(annotations=ToolAnnotations(destructiveHint=True))
        def delete_record(record_id: str, cascade: bool = False) -> str:
            """Delete one record, optionally with its children."""
            return record_id + str(cascade)

        @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
        def get_time() -> str:
            """Current time."""
            return "now"

    return server


def main() -> None:
    transport = sys.argv[1]
    variant = Path(sys.argv[-1]).read_text().strip()
    server = build(variant)
    if transport == "stdio":
        server.run("stdio")
    elif transport == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("sse", host="127.0.0.1", port=int(sys.argv[2]))


if __name__ == "__main__":
    main()
