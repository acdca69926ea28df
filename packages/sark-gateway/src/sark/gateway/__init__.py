"""SARK gateway plugin: MCP gateway and A2A authorization, AuthZEN and OPA-compatible APIs."""

from __future__ import annotations

from sark.core import __version__

__all__ = ["__version__"]
