"""OpenID AuthZEN Authorization API 1.0: metadata, evaluation and evaluations."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException
from litestar.params import JSONBody

from sark.api.domain.identity.authn import AuthInfo
from sark.api.domain.identity.deps import caller
from sark.core.models import Decision
from sark.gateway import pdp
from sark.gateway.auth import pep_caller, public_gateway, state_of
from sark.gateway.controllers._deps import client_ip

ENTITY_KEYS = ("subject", "action", "resource", "context")
Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]


class Evaluation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One decision of the Access Evaluation API."""

    decision: bool
    context: dict[str, Any] | None = None


class Evaluations(msgspec.Struct, kw_only=True):
    """Decisions of the Access Evaluations API, in request order."""

    evaluations: list[Evaluation]


class AuthZenMetadata(msgspec.Struct, kw_only=True):
    """Policy Decision Point metadata (``/.well-known/authzen-configuration``)."""

    policy_decision_point: str
    access_evaluation_endpoint: str
    access_evaluations_endpoint: str


def _answer(decision: Decision) -> Evaluation:
    context: dict[str, Any] = {"id": decision.decision_id, "reason": decision.reason}
    if decision.allow and decision.obligations:
        context["obligations"] = list(decision.obligations)
        context["filtered_parameters"] = decision.filtered_parameters
    return Evaluation(decision=decision.allow, context=context)


def _key_id(request: Request[Any, Any, Any]) -> str | None:
    auth = request.scope.get("auth")
    return auth.key_id if isinstance(auth, AuthInfo) else None


def _semantic(body: dict[str, Any]) -> Semantic:
    options = body.get("options")
    if options is None:
        return "execute_all"
    if not isinstance(options, dict):
        raise ClientException("options must be an object")
    value = options.get("evaluations_semantic", options.get("evaluation_semantics", "execute_all"))
    if value not in ("execute_all", "deny_on_first_deny", "permit_on_first_permit"):
        msg = (
            "options.evaluations_semantic must be execute_all, deny_on_first_deny "
            "or permit_on_first_permit"
        )
        raise ClientException(msg)
    return value  # type: ignore[no-any-return]


class AuthZenMetadataController(Controller):
    """Discovery document (public, while the gateway is enabled)."""

    path = "/.well-known"
    tags = ["authzen"]  # noqa: RUF012

    @get(
        "/authzen-configuration", operation_id="authzenConfiguration", before_request=public_gateway
    )
    async def configuration(self, request: Request[Any, Any, Any]) -> AuthZenMetadata:
        """Where the evaluation endpoints are."""
        base = str(request.base_url).rstrip("/")
        return AuthZenMetadata(
            policy_decision_point=base,
            access_evaluation_endpoint=f"{base}/access/v1/evaluation",
            access_evaluations_endpoint=f"{base}/access/v1/evaluations",
        )


class AuthZenController(Controller):
    """``/access/v1``: decisions for AuthZEN enforcement points (COAZ-MCP defaults)."""

    path = "/access/v1"
    tags = ["authzen"]  # noqa: RUF012

    @post(
        "/evaluation", operation_id="authzenEvaluation", before_request=pep_caller, status_code=200
    )
    async def evaluation(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
    ) -> Response[Evaluation]:
        """One decision: ``{subject, action, resource, context}`` -> ``{decision, context}``."""
        started = time.perf_counter()
        gateway = state_of(request)
        mapper = pdp.Mapper(gateway, caller(request), _key_id(request))
        question = await mapper.question(data)
        decision = await pdp.decide_one(gateway, question, client_ip(request))
        gateway.metrics.latency.labels("authzen").observe(time.perf_counter() - started)
        return _respond(request, _answer(decision))

    @post(
        "/evaluations", operation_id="authzenEvaluations", before_request=pep_caller,
        status_code=200,
    )  # fmt: skip
    async def evaluations(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
    ) -> Response[Evaluations]:
        """Several decisions; top-level subject/action/resource/context are defaults."""
        started = time.perf_counter()
        gateway = state_of(request)
        items = data.get("evaluations")
        semantic = _semantic(data)
        defaults = {k: data[k] for k in ENTITY_KEYS if k in data}
        if items is None:
            items = [{}] if defaults else []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ClientException("evaluations must be an array of objects")
        if len(items) > 1000:
            raise ClientException("at most 1000 evaluations per request")
        mapper = pdp.Mapper(gateway, caller(request), _key_id(request))
        merged = [{**defaults, **item} for item in items]
        ip = client_ip(request)
        answers: list[Evaluation] = []
        if semantic == "execute_all":
            questions = [await mapper.question(m) for m in merged]
            answers = [_answer(d) for d in await pdp.decide_all(gateway, questions, ip)]
        else:
            stop_on = semantic == "permit_on_first_permit"
            for item in merged:
                decision = await pdp.decide_one(gateway, await mapper.question(item), ip)
                answers.append(_answer(decision))
                if decision.allow == stop_on:
                    break
        gateway.metrics.latency.labels("authzen_batch").observe(time.perf_counter() - started)
        return _respond(request, Evaluations(evaluations=answers))


def _respond(request: Request[Any, Any, Any], body: Any) -> Response[Any]:
    # the id the observability middleware validated, never the raw header (CR/LF injection)
    request_id = request.scope.get("state", {}).get("request_id")
    headers = {"X-Request-ID": request_id} if request_id else None
    return Response(body, headers=headers)
