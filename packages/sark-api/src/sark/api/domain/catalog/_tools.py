"""Building tools from declarations and applying a discovered tool list (drift rules)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from sark.api.domain.catalog.discovery import DiscoveredTool, definition_hash
from sark.api.domain.catalog.facts import effective_level
from sark.api.domain.catalog.models import Tool, ToolSensitivityChange
from sark.api.domain.catalog.sensitivity import derive, normalize_annotations, stricter
from sark.core.models import Sensitivity

DISCOVERY_ACTOR = "discovery"


def new_tool(
    server_id: uuid.UUID,
    definition: DiscoveredTool,
    *,
    declared: Sensitivity | None = None,
    requires_approval: bool = False,
) -> Tool:
    """A new catalog tool for ``definition`` with its derived sensitivity."""
    derivation = derive(
        definition.name, definition.description, definition.input_schema, definition.annotations
    )
    return Tool(
        id=uuid.uuid4(),
        server_id=server_id,
        name=definition.name,
        description=definition.description,
        input_schema=dict(definition.input_schema),
        annotations=normalize_annotations(definition.annotations),
        sensitivity_level=declared.value if declared else None,
        derived_sensitivity=derivation.level.value,
        derivation_rule=derivation.rule,
        sensitivity_override=None,
        definition_hash=definition.definition_hash,
        drifted=False,
        requires_approval=requires_approval,
        status="active",
    )


def stored_hash(tool: Tool) -> str:
    """The definition hash of a catalog tool, recomputed from its stored definition."""
    return definition_hash(tool.name, tool.description, tool.input_schema, tool.annotations)


class Outcome(msgspec.Struct, kw_only=True):
    """What applying a discovered tool list did."""

    added: list[str] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)
    changed: list[str] = msgspec.field(default_factory=list)
    unchanged: list[str] = msgspec.field(default_factory=list)
    new_tools: list[Tool] = msgspec.field(default_factory=list)
    history: list[ToolSensitivityChange] = msgspec.field(default_factory=list)
    drift: list[dict[str, Any]] = msgspec.field(default_factory=list)

    @property
    def modified(self) -> bool:
        """Whether the catalog changed."""
        return bool(self.added or self.removed or self.changed)


def apply_discovery(
    server_id: uuid.UUID, existing: list[Tool], discovered: list[DiscoveredTool]
) -> Outcome:
    """Update ``existing`` tools (in place) to match ``discovered``; report what changed.

    New tools are added with a derived level. Tools no longer listed are marked
    ``removed`` (kept for their history; never resolved, so calls to them are denied as
    unknown tools). A tool whose definition hash changed has drifted: it is flagged, its
    level is re-derived, its declared level and override are cleared, and its effective
    level becomes the stricter of the re-derived and the previous effective level (held as
    an override set by ``discovery``), so a drift can raise a tool's sensitivity but only
    a person lowers it.
    """
    outcome = Outcome()
    by_name = {tool.name: tool for tool in existing}
    seen: set[str] = set()
    for definition in discovered:
        if definition.name in seen:
            continue  # a server listing a name twice: the first definition counts
        seen.add(definition.name)
        tool = by_name.get(definition.name)
        if tool is None:
            created = new_tool(server_id, definition)
            outcome.new_tools.append(created)
            outcome.added.append(definition.name)
        elif tool.definition_hash != definition.definition_hash:
            _drift(tool, definition, outcome)
            outcome.changed.append(definition.name)
        elif tool.status != "active":
            tool.status = "active"
            outcome.added.append(definition.name)
        else:
            outcome.unchanged.append(definition.name)
    for tool in existing:
        if tool.name not in seen and tool.status == "active":
            tool.status = "removed"
            outcome.removed.append(tool.name)
    return outcome


def _drift(tool: Tool, definition: DiscoveredTool, outcome: Outcome) -> None:
    previous = Sensitivity(effective_level(tool))
    old_hash = tool.definition_hash
    derivation = derive(
        definition.name, definition.description, definition.input_schema, definition.annotations
    )
    level = stricter(previous, derivation.level)
    tool.description = definition.description
    tool.input_schema = dict(definition.input_schema)
    tool.annotations = normalize_annotations(definition.annotations)
    tool.definition_hash = definition.definition_hash
    tool.drifted = True
    tool.status = "active"
    tool.derived_sensitivity = derivation.level.value
    tool.derivation_rule = derivation.rule
    tool.sensitivity_level = None
    tool.sensitivity_override = None if level is derivation.level else level.value
    reason = f"definition drift: re-derived {derivation.level.value} ({derivation.rule})"
    if level is not derivation.level:
        reason += f"; kept {level.value} until a person reviews it"
    outcome.history.append(
        ToolSensitivityChange(
            id=uuid.uuid4(),
            tool_id=tool.id,
            old_level=previous.value,
            new_level=level.value,
            changed_by=DISCOVERY_ACTOR,
            reason=reason,
        )
    )
    outcome.drift.append(
        {
            "tool": tool.name,
            "old_hash": old_hash,
            "new_hash": tool.definition_hash,
            "old_level": previous.value,
            "new_level": level.value,
            "derived": derivation.level.value,
            "rule": derivation.rule,
        }
    )
