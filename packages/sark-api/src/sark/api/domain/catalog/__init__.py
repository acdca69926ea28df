"""The MCP catalog: servers, tools, sensitivity, live discovery and the facts policy reads."""

from sark.api.domain.catalog.facts import CatalogFacts, ResourceFacts

__all__ = ["CatalogFacts", "ResourceFacts"]
