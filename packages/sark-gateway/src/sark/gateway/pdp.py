"""Questions from standard enforcement points (AuthZEN, OPA Data API) to the decision service.

Both APIs name a subject, an action and a resource in their own vocabulary; this module
maps them to SARK's: the subject to a principal (through SARK's users, or asserted by a
trusted enforcement point), the action to a package and SARK action, the resource to a
catalog server and tool. A question that cannot be mapped is denied with a reason that
says why, and audited like every decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import uuid_utils

from sark.api.domain.policy.services import DecisionRequest
from sark.api.observability.logging import request_id_var
from sark.core.models import AuditEvent, Decision, Principal, PrincipalType, Role
from sark.gateway.catalog import CatalogIndex
from sark.gateway.state import GatewayState
from sark.gateway.subjects import asserted_principal

#: COAZ-MCP default mappings (MCP method -> SARK gateway action).
MCP_ACTIONS: Final = {
    "tools/call": "gateway:tool:invoke",
    "tools/list": "gateway:tool:discover",
    "resources/read": "gateway:resource:read",
    "resources/subscribe": "gateway:resource:read",
    "resources/unsubscribe": "gateway:resource:read",
    "resources/list": "gateway:server:info",
    "resources/templates/list": "gateway:server:info",
    "prompts/get": "gateway:prompt:get",
    "prompts/list": "gateway:server:info",
    "initialize": "gateway:server:info",
}
AUTHZ_ACTIONS: Final = frozenset({
    "tool:invoke", "tool:update", "server:register", "server:read", "server:update",
    "server:delete", "audit:read",
})  # fmt: skip
SUBJECT_TYPES: Final = frozenset({"identity", "user"})
SERVER_TYPES: Final = frozenset({"mcp_server", "server"})
ITEM_TYPES: Final = frozenset({"resource", "prompt"})
ARGUMENT_KEYS: Final = ("arguments", "args")
SERVER_KEYS: Final = ("server", "server_name", "mcp_server")


def package_of(action: str) -> str | None:
    """The policy package deciding ``action`` (None: not an action SARK knows)."""
    if action.startswith("a2a:"):
        return "mcp.gateway.a2a"
    if action.startswith("gateway:"):
        return "mcp.gateway"
    if action in AUTHZ_ACTIONS:
        return "mcp.authz"
    return None


@dataclass(slots=True)
class Question:
    """One question in SARK's terms, or the reason it cannot be asked."""

    principal: Principal | None
    action: str
    package: str = "mcp.gateway"
    server: str | None = None
    tool: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    deny: str | None = None
    """Set when the question is denied before policy (unknown subject, ambiguous tool)."""

    @property
    def request(self) -> DecisionRequest:
        """The decision-service form."""
        return DecisionRequest(
            action=self.action, server=self.server, tool=self.tool,
            parameters=self.parameters, context=self.context,
        )  # fmt: skip


class Mapper:
    """Maps enforcement-point questions for one caller (the PEP)."""

    def __init__(self, state: GatewayState, pep: Principal, pep_key_id: str | None) -> None:
        """Map questions asked by ``pep`` (authenticated with key ``pep_key_id``)."""
        self.state = state
        self.pep = pep
        trusted = state.config.trusted_pep_keys
        self.trusted = (pep_key_id is not None and pep_key_id in trusted) or (
            pep.auth_method == "gateway_key" and "gateway" in trusted
        )
        self._subjects: dict[tuple[str, str], Principal | None] = {}

    async def subject(self, subject: Any) -> tuple[Principal | None, str | None]:
        """The principal of an AuthZEN-style subject, or the reason there is none."""
        if not isinstance(subject, dict):
            return None, "invalid_subject: subject must be an object with type and id"
        kind, ident = subject.get("type"), subject.get("id")
        if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
            return None, "invalid_subject: subject.type and subject.id must be strings"
        if kind not in SUBJECT_TYPES:
            return None, f"unsupported_subject_type: {kind!r} (use identity or user)"
        key = (kind, ident)
        if key not in self._subjects:
            found = await self.state.subjects.resolve(ident)
            properties = subject.get("properties")
            if found is None and self.trusted and isinstance(properties, dict):
                found = asserted_principal(ident, properties)
            self._subjects[key] = found
        principal = self._subjects[key]
        if principal is None:
            why = "unknown_subject: no SARK user has this id, username, email or external id"
            return None, why
        return principal, None

    async def resource(  # noqa: PLR0911
        self, resource: Any, action: str
    ) -> tuple[str | None, str | None, str | None]:
        """``(server, tool, deny reason)`` of an AuthZEN resource."""
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            return None, None, "invalid_resource: resource must be an object with a type"
        kind = resource["type"]
        ident = resource.get("id")
        raw_props = resource.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        named = None
        for key in SERVER_KEYS:
            if isinstance(value := props.get(key), str):
                named = value
                break
        server = await self._server(named) if named else None
        if kind == "tool":
            if not isinstance(ident, str) or not ident:
                return None, None, "invalid_resource: a tool resource needs its name as id"
            if server is None:
                return await self._server_of_tool(ident)
            return server, ident, None
        if kind in SERVER_TYPES:
            if not isinstance(ident, str) or not ident:
                return None, None, "invalid_resource: an mcp_server resource needs an id"
            return await self._server(ident), None, None
        if kind in ITEM_TYPES:
            return server, None, None
        if kind == "audit":
            return None, None, None
        return None, None, f"unsupported_resource_type: {kind!r}"

    async def _server(self, ref: str) -> str:
        if "://" in ref:
            found = await self._index.server_at(ref, self.state.runtime.catalog.generation)
            return found or ref
        return ref

    async def _server_of_tool(self, tool: str) -> tuple[str | None, str | None, str | None]:
        servers = await self._index.servers_with_tool(tool, self.state.runtime.catalog.generation)
        if len(servers) == 1:
            return servers[0], tool, None
        if not servers:
            return None, tool, f"unknown_tool: no active server offers a tool named {tool!r}"
        names = ", ".join(servers)
        return (
            None,
            tool,
            (
                f"ambiguous_tool: {tool!r} is offered by several servers ({names}); "
                "name one in resource.properties.server"
            ),
        )

    @property
    def _index(self) -> CatalogIndex:
        return self.state.catalog_index

    async def question(self, evaluation: dict[str, Any]) -> Question:
        """The SARK question an AuthZEN evaluation (defaults applied) asks."""
        action_obj = evaluation.get("action")
        name = action_obj.get("name") if isinstance(action_obj, dict) else None
        if not isinstance(name, str) or not name:
            return Question(None, "", deny="invalid_action: action.name must be a string")
        action = MCP_ACTIONS.get(name, name)
        package = package_of(action)
        if package is None:
            return Question(None, name, deny=f"unknown_action: {name!r} has no SARK mapping")
        principal, why = await self.subject(evaluation.get("subject"))
        context = evaluation.get("context")
        context = dict(context) if isinstance(context, dict) else {}
        server, tool, bad = await self.resource(evaluation.get("resource"), action)
        resource = evaluation.get("resource")
        parameters = arguments(context, resource)
        for key in ARGUMENT_KEYS:
            context.pop(key, None)
        if isinstance(resource, dict) and resource.get("type") in ITEM_TYPES:
            context["mcp_item"] = {"type": resource["type"], "id": resource.get("id")}
        context["pep"] = {"id": self.pep.id, "trusted": self.trusted, "mcp_method": name}
        return Question(
            principal, action, package, server, tool, parameters, context, deny=why or bad
        )


def arguments(context: dict[str, Any], resource: Any) -> dict[str, Any]:
    """Tool arguments sent by the PEP: ``context.arguments``/``args`` or the resource's."""
    for key in ARGUMENT_KEYS:
        value = context.get(key)
        if isinstance(value, dict):
            return value
    if isinstance(resource, dict):
        props = resource.get("properties")
        if isinstance(props, dict) and isinstance(props.get("arguments"), dict):
            return dict(props["arguments"])
    return {}


def denied(state: GatewayState, question: Question, client_ip: str | None) -> Decision:
    """A deny for a question that never reached policy, audited like a decision."""
    decision = Decision(
        decision_id=uuid_utils.uuid7().hex,
        allow=False,
        reason=question.deny or "invalid_request",
        policy_revision=state.runtime.decisions.revision,
        engine="none",
    )
    subject = question.principal or UNRESOLVED
    state.runtime.audit.record(
        AuditEvent(
            kind="decision",
            action=question.action or "unknown",
            occurred_at=time.time(),
            principal_id=subject.id,
            principal_type=str(subject.type),
            principal_role=str(subject.role),
            resource=question.server
            if question.tool is None
            else f"{question.server}/{question.tool}",
            allow=False,
            reason=decision.reason,
            decision_id=decision.decision_id,
            engine="none",
            policy_revision=decision.policy_revision,
            request_id=request_id_var.get(None),
            client_ip=client_ip,
            details={"pep": question.context.get("pep")},
        )
    )
    return decision


UNRESOLVED: Final = Principal(
    id="unresolved", type=PrincipalType.USER, role=Role.VIEWER, name="unresolved subject"
)
"""Stands for a subject that could not be resolved, in the audit trail."""


async def decide_all(
    state: GatewayState, questions: list[Question], client_ip: str | None
) -> list[Decision]:
    """Decide every question: one batch per (subject, package), answers in order."""
    results: list[Decision | None] = [None] * len(questions)
    groups: dict[tuple[str, str], list[int]] = {}
    subjects: dict[str, Principal] = {}
    for i, q in enumerate(questions):
        if q.deny is not None or q.principal is None:
            results[i] = denied(state, q, client_ip)
            continue
        subjects[q.principal.id] = q.principal
        groups.setdefault((q.principal.id, q.package), []).append(i)
    for (subject_id, package), indexes in groups.items():
        batch = await state.runtime.decisions.decide_many(
            subjects[subject_id], [questions[i].request for i in indexes], package=package,
            client_ip=client_ip,
        )  # fmt: skip
        for i, decision in zip(indexes, batch, strict=True):
            results[i] = decision
    out = [r for r in results if r is not None]
    state.metrics.count_many(out)
    return out


async def decide_one(state: GatewayState, question: Question, client_ip: str | None) -> Decision:
    """Decide one question."""
    if question.deny is not None or question.principal is None:
        decision = denied(state, question, client_ip)
    else:
        decision = await state.runtime.decisions.decide(
            question.principal, question.action, server=question.server, tool=question.tool,
            parameters=question.parameters, context=question.context, package=question.package,
            client_ip=client_ip,
        )  # fmt: skip
    state.metrics.count(decision)
    return decision
