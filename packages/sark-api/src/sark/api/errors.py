"""The one table mapping errors to RFC 9457 problem-details responses.

Domain errors (``sark.core.errors``) know nothing of HTTP; this module gives each a status
and a stable ``type`` URI. Anything unexpected becomes a 500 whose body says nothing of
the internals, and is logged with the request id so an operator can find it.
"""

from __future__ import annotations

import http
import logging
from typing import Any, Final

import msgspec
from advanced_alchemy import exceptions as repo
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from sark.core import errors as core

log = logging.getLogger("sark.errors")
PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:sark:problem:"
_INTERNAL_DETAIL: Final = "an internal error occurred; the request id identifies it in the logs"

#: error class -> (status, type slug); the first matching class in MRO order wins.
_DOMAIN: Final[dict[type[Exception], tuple[int, str]]] = {
    core.ConfigError: (500, "configuration"),
    core.ValidationError: (422, "validation"),
    core.NotFoundError: (404, "not-found"),
    core.ConflictError: (409, "conflict"),
    core.AuthenticationError: (401, "unauthenticated"),
    core.PermissionDeniedError: (403, "forbidden"),
    core.RateLimitedError: (429, "rate-limited"),
    core.DependencyUnavailableError: (503, "dependency-unavailable"),
    core.SchemaOutOfDateError: (503, "schema-out-of-date"),
    core.FeatureDisabledError: (503, "feature-disabled"),
    core.DiscoveryTimeoutError: (504, "discovery-timeout"),
    core.DiscoveryError: (502, "discovery-failed"),
    repo.NotFoundError: (404, "not-found"),
    repo.DuplicateKeyError: (409, "conflict"),
    repo.IntegrityError: (409, "conflict"),
}
_HTTP_SLUGS: Final = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    503: "service-unavailable",
}


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem-details document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    slug: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """A problem-details response for ``request``."""
    body = Problem(
        type=TYPE_PREFIX + slug,
        title=http.HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        errors=errors,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    status, slug = next(
        (_DOMAIN[cls] for cls in type(exc).__mro__ if cls in _DOMAIN), (500, "internal")
    )
    detail = exc.detail if isinstance(exc, core.SarkError) else _repository_detail(exc)
    headers = None
    if isinstance(exc, core.RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    if status >= 500 and not isinstance(exc, core.FeatureDisabledError):
        # a disabled feature answering 503 is the configured behaviour, not a failure
        log.error("request failed: %s", detail)
    return problem_response(request, status, slug, detail, headers=headers)


def _repository_detail(exc: Exception) -> str:
    if isinstance(exc, repo.NotFoundError):
        return "no such object"
    return "the change conflicts with an existing object"


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    slug = (
        "validation" if isinstance(exc, ValidationException) else _HTTP_SLUGS.get(status, "error")
    )
    if status >= 500:
        log.error("request failed: %s", exc.detail)
        return problem_response(request, status, "internal", _INTERNAL_DETAIL)
    errors = exc.extra if isinstance(exc.extra, list) and exc.extra else None
    return problem_response(
        request, status, slug, exc.detail, errors=errors, headers=exc.headers or None
    )


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(request, 500, "internal", _INTERNAL_DETAIL)


def exception_handlers() -> ExceptionHandlersMap:
    """The handlers to give Litestar."""
    handlers: dict[Any, Any] = dict.fromkeys(_DOMAIN, _domain_handler)
    handlers[HTTPException] = _http_handler
    handlers[Exception] = _internal_handler
    return handlers


__all__ = ["PROBLEM_JSON", "Problem", "exception_handlers", "problem_response"]
