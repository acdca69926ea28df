"""Request limits: body size, JSON nesting depth and JSON size in nodes.

The body size is enforced by Litestar (``request_max_body_size``, 413). Depth and node
count are checked when a handler reads its JSON body, by the request class of the app
(:func:`limited_request_class`). The check sits on the path of every decision, so it
starts with bounds computed at C speed: a document cannot hold more values and keys than
it has ``[``, ``{``, ``,`` and ``:`` bytes plus one (``bytes.count``), and its depth is
that of its brackets outside strings, found by deleting innermost ``{}``/``[]`` pairs one
level per pass (:func:`_depth_within`; a handful of passes over a few hundred bytes for a
batch of a hundred AuthZEN evaluations, which walking the decoded value in Python cost
more than a hundred microseconds). Strings are cut out by splitting at ``"`` when no
quote is escaped (every ``"`` then delimits a string), a regular expression otherwise
(the split is about seven times cheaper on such a batch). Only a body whose bounds exceed
a limit is decoded and walked; the decoded value is kept, so such a body is still decoded
once.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from sark.core.settings import LimitsSettings

_decode: Final = msgspec.json.Decoder().decode
_NUL_ESCAPE: Final = b"\\u0000"
_NUL_DETAIL: Final = "NUL characters (\\u0000) are not accepted in any text"
_ESCAPED_QUOTE: Final = b'\\"'
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET: Final = bytes(byte for byte in range(256) if byte not in b"[]{}")
_LEAF: Final = re.compile(rb"\{\}|\[\]")


class JsonLimitError(ClientException):
    """Input SARK refuses whatever the endpoint (400): not UTF-8, NUL, too deep, too big."""


def check_json(body: bytes, limits: LimitsSettings) -> Any:
    """Raise :class:`JsonLimitError` if ``body`` breaks a limit; the decoded value or Empty.

    Empty means the cheap bound proved the body within limits without decoding it.
    """
    opens = body.count(b"{") + body.count(b"[")
    if (
        opens + body.count(b",") + body.count(b":") < limits.max_json_nodes
        and _NUL_ESCAPE not in body
        and (opens <= limits.max_json_depth or _depth_within(body, limits.max_json_depth))
    ):
        return Empty
    try:
        value = _decode(body)
    except RecursionError:
        raise _too_deep(limits) from None
    except msgspec.DecodeError:
        return Empty  # not JSON at all: the handler's decoder reports it as usual
    _measure(value, limits)
    return value


def _depth_within(body: bytes, max_depth: int) -> bool:
    """Whether the brackets of ``body`` outside strings balance, nested ``max_depth`` at most.

    Each pass deletes every innermost pair (the leaves), so a balanced shape is gone after
    as many passes as it is deep. False also for what is not JSON: the caller then decodes.
    """
    outside = (
        b"".join(body.split(b'"')[::2]) if _ESCAPED_QUOTE not in body else _STRING.sub(b"", body)
    )
    shape = outside.translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        if not shape:
            return True
        shape = _LEAF.sub(b"", shape)
    return not shape


def _measure(value: Any, limits: LimitsSettings) -> None:
    """Walk ``value`` without recursion, stopping at the first limit it breaks."""
    max_depth, max_nodes = limits.max_json_depth, limits.max_json_nodes
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if isinstance(item, str):
            if "\x00" in item:
                raise JsonLimitError(_NUL_DETAIL)
        elif isinstance(item, dict):
            depth += 1
            if depth > max_depth:
                raise _too_deep(limits)
            nodes += len(item)  # keys count as nodes: a map of a million keys is not small
            if any("\x00" in key for key in item):
                raise JsonLimitError(_NUL_DETAIL)
            stack.extend((child, depth) for child in item.values())
        elif isinstance(item, list):
            depth += 1
            if depth > max_depth:
                raise _too_deep(limits)
            stack.extend((child, depth) for child in item)
        if nodes > max_nodes:
            msg = (
                f"the JSON body holds more than {max_nodes} values and keys "
                "(limit SARK_MAX_JSON_NODES)"
            )
            raise JsonLimitError(msg)


def _too_deep(limits: LimitsSettings) -> JsonLimitError:
    msg = (
        f"the JSON body is nested more than {limits.max_json_depth} levels deep "
        "(limit SARK_MAX_JSON_DEPTH)"
    )
    return JsonLimitError(msg)


class RejectNulMiddleware:
    """400 for a NUL character in the path or query string, before anything reads them.

    PostgreSQL text cannot hold NUL: a lookup or filter carrying one would fail in the
    driver (a 500) instead of finding nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request or pass it on unchanged."""
        if scope["type"] == ScopeType.HTTP:
            query = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                raise JsonLimitError(_NUL_DETAIL.replace("any text", "paths or query strings"))
        await self.app(scope, receive, send)


def limited_request_class(limits: LimitsSettings) -> type[Request[Any, Any, Any]]:
    """A request class whose ``json()`` enforces ``limits`` before decoding."""

    class LimitedRequest(Request[Any, Any, Any]):
        """A Litestar request refusing JSON bodies beyond the configured limits."""

        async def json(self) -> Any:
            """The JSON body, once it is known to be within limits."""
            if self._json is Empty and self._connection_state.json is Empty:
                checked = check_json(await self.body(), limits)
                if checked is not Empty:
                    self._json = self._connection_state.json = checked
            try:
                return await super().json()
            except UnicodeDecodeError:
                # msgspec raises it for bytes that are not UTF-8 (overlong forms, latin-1
                # text) and Litestar lets it through as a 500
                raise JsonLimitError("the body is not valid UTF-8 JSON") from None

    return LimitedRequest


__all__ = ["JsonLimitError", "RejectNulMiddleware", "check_json", "limited_request_class"]
