"""An OPA server over its REST API, holding the bundle SARK pushes to it.

SARK is the source of the policy: on start and on every reload it PUTs each module
(``/v1/policies/sark/<relpath>``) and each data document at the path OPA's directory
loader would mount it (``data/mcp/authz/data.json`` -> ``/v1/data/data/mcp/authz``),
then its revision at ``data.sark_meta.revision`` so anyone can check which bundle an OPA
server holds, and last a guard module per package (``/v1/policies/sark-guard/<package>``):

```rego
package sark_guard.mcp.authz

decision := data.mcp.authz.decision
```

Decisions are asked of the guard (``/v1/data/sark_guard/mcp/authz/decision``), so they
are undefined until a push has completed: the REST API loads modules and data one PUT at
a time, and a decision made between two of them (another worker restoring an OPA that
restarted empty, say) would run a policy without its data. A new revision first removes
the guards, so no decision mixes two revisions either. When a decision is undefined the
engine pushes its bundle again and retries once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from sark.api.domain.policy.bundle import Bundle, PolicyBundleError
from sark.api.domain.policy.engines.protocol import (
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    Evaluated,
    evaluate_each,
)

log = logging.getLogger("sark.policy.opa")
UNAVAILABLE = "engine_error:opa_unavailable"
META_PATH = "sark_meta"
GUARD_PACKAGE = "sark_guard"
BATCH_CONCURRENCY = 16
"""Queries of one batch in flight at once (OPA has no batch query in its REST API)."""
_GUARD_POLICIES = "/v1/policies/sark-guard"
_JSON = {"Content-Type": "application/json"}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(slots=True)
class _Staged:
    owner: OpaHttpEngine
    previous: Bundle | None

    def commit(self) -> None:
        """Nothing to do: OPA serves the pushed bundle already."""

    async def abort(self) -> None:
        if self.previous is not None:
            await self.owner._push(self.previous)


class OpaHttpEngine:
    """Evaluates ``data.<package>.decision`` on an OPA server."""

    name = "opa"
    implementation = "opa"

    def __init__(self, client: httpx.AsyncClient, url: str, timeout_ms: int) -> None:
        """Talk to the OPA server at ``url`` through ``client`` (kept alive)."""
        self._client = client
        self._url = url.rstrip("/")
        self._timeout = httpx.Timeout(timeout_ms / 1000)
        self._bundle: Bundle | None = None
        self._pushed: str | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        """Base URL of the OPA server."""
        return self._url

    @property
    def revision(self) -> str | None:
        """Revision of the bundle SARK wants OPA to serve."""
        return self._bundle.revision if self._bundle else None

    async def stage(self, bundle: Bundle) -> _Staged:
        """Push ``bundle``; on failure put the previous one back and raise."""
        previous = self._bundle
        async with self._lock:
            try:
                await self._push(bundle)
            except BaseException:
                if previous is not None:
                    await _quietly(self._push(previous))
                raise
        return _Staged(self, previous)

    async def adopt(self, bundle: Bundle) -> None:
        """Remember ``bundle`` without pushing (OPA down at start: pushed on first use)."""
        self._bundle = bundle

    async def evaluate(self, package: str, policy_input: dict[str, Any]) -> Any:
        """POST the input to OPA's data API; re-push once if OPA lost the policy."""
        if self._bundle is not None and self._pushed != self._bundle.revision:
            await self._repush()
        body = await self._query(package, policy_input)
        if "result" not in body and self._bundle is not None:
            # OPA restarted (policies live in its memory): restore and ask again.
            self._pushed = None
            await self._repush()
            body = await self._query(package, policy_input)
        return body.get("result")

    async def evaluate_many(
        self, package: str, inputs: Sequence[dict[str, Any]]
    ) -> list[Evaluated]:
        """One query per input, ``BATCH_CONCURRENCY`` at a time."""
        return await evaluate_each(self, package, inputs, BATCH_CONCURRENCY)

    async def _query(self, package: str, policy_input: dict[str, Any]) -> dict[str, Any]:
        path = package.replace(".", "/")
        try:
            response = await self._client.post(
                f"{self._url}/v1/data/{GUARD_PACKAGE}/{path}/decision",
                content=_encode({"input": policy_input}),
                headers=_JSON,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            msg = f"OPA did not answer within the time limit ({exc.__class__.__name__})"
            raise EngineTimeoutError(msg) from None
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"OPA unreachable: {exc!r}", UNAVAILABLE) from None
        if response.status_code >= 500:
            msg = f"OPA answered {response.status_code}: {response.text[:200]}"
            raise EngineUnavailableError(msg, UNAVAILABLE)
        if response.status_code != 200:
            msg = f"OPA rejected the query ({response.status_code}): {response.text[:200]}"
            raise EngineError(msg, "engine_error:opa_rejected")
        try:
            body = _decode(response.content)
        except msgspec.DecodeError:
            raise EngineError("OPA answered invalid JSON", "engine_error:opa_rejected") from None
        if not isinstance(body, dict):
            raise EngineError("OPA answered a non-object", "engine_error:opa_rejected")
        return body

    async def _repush(self) -> None:
        bundle = self._bundle
        assert bundle is not None
        async with self._lock:
            if self._pushed == bundle.revision:
                return  # another request restored it while we waited
            try:
                await self._push(bundle)
            except PolicyBundleError as exc:
                raise EngineError(str(exc), "engine_error:opa_rejected") from None

    async def _push(self, bundle: Bundle) -> None:
        previous = self._bundle
        if previous is not None and previous.revision != bundle.revision:
            # Until the new revision is complete, decisions are undefined, never mixed.
            for package in previous.packages:
                await self._request("DELETE", _guard_path(package), None, f"guard {package}")
        for relpath, source in bundle.modules.items():
            await self._put(f"/v1/policies/sark/{quote(relpath)}", source.encode(), relpath)
        stale = set(previous.modules) - set(bundle.modules) if previous else set()
        for relpath in sorted(stale):
            await self._request("DELETE", f"/v1/policies/sark/{quote(relpath)}", None, relpath)
        for mount, document in _mounts(bundle).items():
            await self._put(f"/v1/data/{quote(mount)}", _encode(document), mount)
        if previous is not None:
            for mount in sorted(set(_mounts(previous)) - set(_mounts(bundle))):
                await self._request("DELETE", f"/v1/data/{quote(mount)}", None, mount)
        meta = _encode({"revision": bundle.revision, "packages": bundle.packages})
        await self._put(f"/v1/data/{META_PATH}", meta, META_PATH)
        for package in bundle.packages:
            guard = f"package {GUARD_PACKAGE}.{package}\n\ndecision := data.{package}.decision\n"
            await self._put(_guard_path(package), guard.encode(), f"guard {package}")
        self._bundle = bundle
        self._pushed = bundle.revision
        log.info("policy bundle %s pushed to OPA at %s", bundle.revision, self._url)

    async def _put(self, path: str, content: bytes, what: str) -> None:
        await self._request("PUT", path, content, what)

    async def _request(self, method: str, path: str, content: bytes | None, what: str) -> None:
        headers = _JSON if path.startswith("/v1/data") else {"Content-Type": "text/plain"}
        try:
            response = await self._client.request(
                method, f"{self._url}{path}", content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            msg = f"OPA at {self._url} is unreachable: {exc!r}"
            raise EngineUnavailableError(msg, UNAVAILABLE) from None
        if response.status_code == 400:
            raise PolicyBundleError(f"OPA rejected {what}: {_opa_errors(response)}")
        if method == "DELETE" and response.status_code == 404:
            return
        if response.status_code >= 300:
            msg = f"OPA answered {response.status_code} to {method} {what}"
            raise EngineUnavailableError(msg, UNAVAILABLE)

    async def health(self) -> dict[str, Any]:
        """Whether OPA answers and holds the revision SARK pushed."""
        status: dict[str, Any] = {"name": self.name, "revision": self.revision, "url": self._url}
        try:
            response = await self._client.get(
                f"{self._url}/v1/data/{META_PATH}/revision", timeout=self._timeout
            )
            held = _decode(response.content).get("result") if response.status_code == 200 else None
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            return {**status, "healthy": False, "detail": f"unreachable: {exc.__class__.__name__}"}
        if held != self.revision:
            return {**status, "healthy": False, "detail": f"OPA holds revision {held}"}
        return {**status, "healthy": True, "detail": "serving the pushed revision"}


def _guard_path(package: str) -> str:
    return f"{_GUARD_POLICIES}/{quote(package)}"


def _mounts(bundle: Bundle) -> dict[str, Any]:
    """Data documents by OPA data path: the merged tree split at its top-level keys.

    Splitting only at the top keeps nested mounts (``data/mcp/gateway`` and
    ``data/mcp/gateway/a2a``) from overwriting each other: each PUT replaces a whole
    subtree, so pushing a parent after a child would erase the child.
    """
    return bundle.data_document()


def _opa_errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    errors = body.get("errors") or []
    parts = [
        f"{e.get('location', {}).get('file', '')}:{e.get('location', {}).get('row', '')}: "
        f"{e.get('message', '')}"
        for e in errors
        if isinstance(e, dict)
    ]
    return "; ".join(parts) or str(body.get("message", response.text[:500]))


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.warning("could not restore the previous bundle on OPA", exc_info=True)
