"""SARK gateway plugin: MCP gateway and A2A authorization, AuthZEN and OPA-compatible APIs."""

from __future__ import annotations

from sark.core import __version__
from sark.gateway.config import GatewayConfig
from sark.gateway.plugin import GatewayPlugin, plugin_factory

__all__ = ["GatewayConfig", "GatewayPlugin", "__version__", "plugin_factory"]
