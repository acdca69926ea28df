"""``/api/v1/policy``: evaluate a decision, inspect and reload the bundle."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from sark.api.domain.identity.deps import caller
from sark.api.domain.identity.guards import require_roles, require_scope
from sark.api.domain.policy.schemas import (
    BundleInfo,
    EngineStatus,
    EvaluateRequest,
    EvaluateResponse,
)
from sark.api.domain.policy.services import DecisionService
from sark.api.runtime import Runtime
from sark.core.errors import PermissionDeniedError
from sark.core.models import AuditEvent, Principal, Role


def provide_decisions(runtime: NamedDependency[Runtime]) -> DecisionService:
    """The runtime's decision service."""
    return runtime.decisions


async def bundle_info(decisions: DecisionService) -> BundleInfo:
    """What is serving now, engine by engine."""
    bundle = decisions.bundle
    engines = [EngineStatus(**await e.health()) for e in decisions.router.engines]
    return BundleInfo(
        revision=decisions.revision,
        packages=bundle.packages if bundle else [],
        loaded_at=bundle.loaded_at if bundle else None,
        path=decisions.bundle_path,
        engines=engines,
    )


class PolicyController(Controller):
    """Policy decisions and the policy bundle."""

    path = "/api/v1/policy"
    tags = ["policy"]
    dependencies = {
        "decisions": Provide(provide_decisions, sync_to_thread=False),
    }

    @post(
        "/evaluate",
        operation_id="evaluatePolicy",
        summary="Decide whether the caller (or, for admins, a named subject) may act",
        guards=[require_scope("policy:evaluate")],
        status_code=200,
    )
    async def evaluate(
        self,
        data: JSONBody[EvaluateRequest],
        request: Request[Any, Any, Any],
        decisions: NamedDependency[DecisionService],
    ) -> EvaluateResponse:
        """200 with the decision, allow or deny; a deny names the rule that failed."""
        principal = caller(request)
        subject = principal
        if data.subject is not None:
            if not principal.is_admin:
                raise PermissionDeniedError("only admins may evaluate for another subject")
            subject = Principal(
                id=data.subject.id,
                type=data.subject.type,
                role=data.subject.role,
                teams=tuple(data.subject.teams),
            )
        decision = await decisions.decide(
            subject,
            data.action,
            server=data.server,
            tool=data.tool,
            parameters=data.parameters,
            context=data.context,
            client_ip=request.client.host if request.client else None,
        )
        return EvaluateResponse(
            decision_id=decision.decision_id,
            allow=decision.allow,
            reason=decision.reason,
            filtered_parameters=decision.filtered_parameters,
            obligations=list(decision.obligations),
            cache_ttl=decision.cache_ttl,
            policy_revision=decision.policy_revision,
            engine=decision.engine,
        )

    @get(
        "/bundle",
        operation_id="getPolicyBundle",
        summary="The policy bundle serving now and the state of each engine",
    )
    async def bundle(
        self,
        principal: NamedDependency[Principal],
        decisions: NamedDependency[DecisionService],
    ) -> BundleInfo:
        """Revision, packages, load time and engines."""
        return await bundle_info(decisions)

    @post(
        "/reload",
        operation_id="reloadPolicyBundle",
        summary="Reload the bundle from disk into every engine of every worker (admin)",
        guards=[require_roles(Role.ADMIN), require_scope("admin")],
        status_code=200,
    )
    async def reload(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        decisions: NamedDependency[DecisionService],
        runtime: NamedDependency[Runtime],
    ) -> BundleInfo:
        """422 with the compiler's message when the bundle is bad (the old one keeps serving)."""
        previous = decisions.revision
        event: dict[str, Any] = {
            "kind": "policy",
            "action": "policy.reload",
            "principal_id": principal.id,
            "principal_type": str(principal.type),
            "principal_role": str(principal.role),
            "resource": decisions.bundle_path,
            "client_ip": request.client.host if request.client else None,
            "request_id": request.scope.get("state", {}).get("request_id"),
        }
        try:
            bundle = await decisions.reload()
        except Exception as exc:
            runtime.audit.record(
                AuditEvent(
                    **event,
                    occurred_at=time.time(),
                    allow=False,
                    reason=str(exc)[:500],
                    policy_revision=previous,
                    details={"previous_revision": previous},
                )
            )
            raise
        await runtime.reloads.announce(bundle.revision)
        runtime.audit.record(
            AuditEvent(
                **event,
                occurred_at=time.time(),
                allow=True,
                reason="reloaded",
                policy_revision=bundle.revision,
                details={"previous_revision": previous},
            )
        )
        return await bundle_info(decisions)
