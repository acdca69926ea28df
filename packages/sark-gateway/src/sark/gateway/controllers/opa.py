"""OPA Data API compatibility: ``POST /v1/data/{path}`` with ``{input}``.

An enforcement point written for an OPA sidecar can point at SARK unchanged. The input is
SARK's canonical shape; subject, server and tool are *named* (facts come from SARK's
users and catalog), and every answer is a decision of the one decision service.
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody

from sark.api.domain.identity.deps import caller
from sark.core.models import Principal
from sark.gateway import pdp
from sark.gateway.auth import pep_caller, state_of
from sark.gateway.controllers._deps import client_ip
from sark.gateway.controllers.authzen import _key_id
from sark.gateway.state import GatewayState

PACKAGES: Final = {"mcp/authz": "mcp.authz", "mcp/gateway": "mcp.gateway",
                   "mcp/gateway/a2a": "mcp.gateway.a2a"}  # fmt: skip
RULES: Final = frozenset({"decision", "allow", "reason", "filtered_parameters", "obligations"})
_SEGMENTS: Final = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


class DataResponse(msgspec.Struct, kw_only=True):
    """OPA's answer shape."""

    result: Any
    decision_id: str


def _target(path: str) -> tuple[str, str | None]:
    clean = path.strip("/")
    if not _SEGMENTS.match(clean):
        msg = "invalid data path: use segments of a-z, 0-9 and _ (e.g. mcp/gateway/decision)"
        raise ClientException(msg)
    if clean in PACKAGES:
        return PACKAGES[clean], None
    package, _, rule = clean.rpartition("/")
    if package in PACKAGES and rule in RULES:
        return PACKAGES[package], rule
    known = ", ".join(f"{p}/decision" for p in PACKAGES)
    raise NotFoundException(f"no policy document at {clean!r}; known: {known}")


def _name(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        for key in ("name", "id"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
    return None


class OpaDataController(Controller):
    """``/v1/data``: the subset of OPA's Data API an enforcement point uses."""

    path = "/v1/data"
    tags = ["opa-compatible"]  # noqa: RUF012

    @post("/{path:path}", operation_id="opaDataQuery", before_request=pep_caller, status_code=200)
    async def query(
        self,
        request: Request[Any, Any, Any],
        path: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> DataResponse:
        """Evaluate ``data.<package>.decision`` (or one of its fields) for ``input``."""
        started = time.perf_counter()
        gateway = state_of(request)
        if b"%" in request.scope.get("raw_path", b""):
            # the path was percent-encoded (%2F, %2e%2e, %00): a valid data path never is,
            # and decoding it first would let `mcp%2Fauthz` pass for `mcp/authz`
            raise ClientException("invalid data path: percent-encoded characters are refused")
        package, rule = _target(path)
        payload = data.get("input")
        if not isinstance(payload, dict):
            raise ClientException('the body must be {"input": {...}}')
        action = payload.get("action")
        if not isinstance(action, str) or pdp.package_of(action) != package:
            raise ClientException(f"input.action must be an action of {package}")
        question = await self._question(
            gateway,
            principal=caller(request),
            request=request,
            package=package,
            action=action,
            payload=payload,
        )
        decision = await pdp.decide_one(gateway, question, client_ip(request))
        gateway.metrics.latency.labels("opa_data").observe(time.perf_counter() - started)
        document = {
            "allow": decision.allow,
            "reason": decision.reason,
            "filtered_parameters": decision.filtered_parameters if decision.allow else {},
            "obligations": list(decision.obligations),
        }
        result: Any = (
            {"decision": document}
            if rule is None
            else (document if rule == "decision" else document[rule])
        )
        return DataResponse(result=result, decision_id=decision.decision_id)

    @staticmethod
    async def _question(
        gateway: GatewayState,
        *,
        principal: Principal,
        request: Request[Any, Any, Any],
        package: str,
        action: str,
        payload: dict[str, Any],
    ) -> pdp.Question:
        mapper = pdp.Mapper(gateway, principal, _key_id(request))
        subject = payload.get("subject")
        who: Principal | None = principal
        why = None
        if subject is not None:
            if isinstance(subject, dict) and "type" not in subject:
                subject = {**subject, "type": "user"}
            if isinstance(subject, dict) and not subject.get("id") and subject.get("username"):
                subject = {**subject, "id": subject["username"]}
            who, why = await mapper.subject(subject)
        raw_resource, raw_context = payload.get("resource"), payload.get("context")
        resource: dict[str, Any] = raw_resource if isinstance(raw_resource, dict) else {}
        context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
        parameters = payload.get("parameters")
        if not isinstance(parameters, dict):
            parameters = pdp.arguments(dict(context), resource)
        return pdp.Question(
            who, action, package, _name(resource.get("server")), _name(resource.get("tool")),
            parameters, {**context, "pep": {"id": principal.id, "api": "opa"}}, deny=why,
        )  # fmt: skip
