"""Request helpers shared by the plugin's controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    """The peer address of ``request``."""
    return request.client.host if request.client else None
