"""Error responses every operation of the OpenAPI document declares.

Each handler documents its success response; the problem-details answers that the
framework, the authentication middleware and the error table (:mod:`sark.api.errors`)
can give it are the same everywhere, so they are added here, once, for every route,
rather than repeated on every handler. Litestar builds the document lazily, from the
handlers' ``responses``, the first time ``/schema`` is read.
"""

from __future__ import annotations

from typing import Final

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from sark.api.domain.identity.middleware import PUBLIC_PATHS
from sark.api.errors import PROBLEM_JSON, Problem

_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODIES: Final = frozenset({"POST", "PUT", "PATCH"})
_WHY: Final = {
    400: "The request is malformed (syntax, types, JSON limits).",
    401: "No valid credentials were presented.",
    403: "The caller may not do this.",
    404: "No such object (or route disabled).",
    409: "The change conflicts with an existing object.",
    413: "The request body is larger than `SARK_MAX_BODY_BYTES`.",
    422: "The request is well formed but its values are refused.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    503: "A dependency or feature is unavailable.",
}


def _spec(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=_WHY[status],
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


def _statuses(path: str, method: str) -> list[int]:
    # handlers a plugin excludes from the middleware authenticate in their guards, so
    # only the core's public paths are sure never to answer 401/403
    if path in PUBLIC_PATHS and method in {"GET", "HEAD"}:
        return [404, 503]
    statuses = [400, 401, 403, 404, 422, 429, 503]
    if method in _WRITES:
        statuses.append(409)
    if method in _BODIES:
        statuses.append(413)
    return statuses


def declare_problem_responses(app: Litestar) -> None:
    """Add the problem-details responses to every HTTP handler of ``app`` (handlers win)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            method = next(iter(sorted(handler.http_methods)))
            declared = dict(handler.responses or {})
            for status in _statuses(route.path, method):
                declared.setdefault(status, _spec(status))
            handler.responses = declared


__all__ = ["declare_problem_responses"]
