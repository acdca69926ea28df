"""What every policy engine offers the decision service, and how engines fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from sark.api.domain.policy.bundle import Bundle


class EngineError(Exception):
    """An evaluation failed; ``reason`` is the deny reason the decision carries."""

    reason = "engine_error"

    def __init__(self, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason


class EngineUnavailableError(EngineError):
    """The engine cannot be reached or answered with a server error."""

    reason = "engine_error:unavailable"


class EngineTimeoutError(EngineError):
    """The evaluation exceeded ``policy.timeout_ms``."""

    reason = "engine_timeout"


class NoPolicyEngineError(EngineError):
    """No engine is configured (neither sark-native nor an OPA URL)."""

    reason = "no_policy_engine"


Evaluated = tuple[Any, float]
"""One item of a batch: the decision (or the EngineError that stopped it) and its seconds."""


async def evaluate_each(
    engine: PolicyEngine, package: str, inputs: Sequence[dict[str, Any]], concurrency: int
) -> list[Evaluated]:
    """A batch as concurrent single evaluations, at most ``concurrency`` at once.

    For engines without a cheaper batch of their own (a remote engine: one request each).
    """
    limit = asyncio.Semaphore(concurrency)

    async def one(policy_input: dict[str, Any]) -> Evaluated:
        async with limit:
            started = time.perf_counter()
            try:
                result: Any = await engine.evaluate(package, policy_input)
            except EngineError as exc:
                result = exc
            return result, time.perf_counter() - started

    return list(await asyncio.gather(*(one(i) for i in inputs)))


class StagedLoad(Protocol):
    """A bundle loaded into one engine but not yet committed (two-phase reload)."""

    def commit(self) -> None:
        """Make the staged bundle the one serving."""

    async def abort(self) -> None:
        """Return the engine to the bundle it served before staging."""


class PolicyEngine(Protocol):
    """A Rego engine holding one bundle revision at a time."""

    @property
    def name(self) -> str:
        """Engine name reported in decisions and metrics (``native`` or ``opa``)."""

    @property
    def implementation(self) -> str:
        """Label of the 1.4 metrics (``rust`` or ``opa``)."""

    @property
    def revision(self) -> str | None:
        """Revision of the bundle serving now, or None before the first load."""

    async def stage(self, bundle: Bundle) -> StagedLoad:
        """Load ``bundle`` ready to serve; raises PolicyBundleError if it does not compile."""

    async def adopt(self, bundle: Bundle) -> None:
        """Take ``bundle`` as the one to serve without loading it now (engine unreachable)."""

    async def evaluate(self, package: str, policy_input: dict[str, Any]) -> Any:
        """The value of ``data.<package>.decision`` for ``input`` (None when undefined)."""

    async def evaluate_many(
        self, package: str, inputs: Sequence[dict[str, Any]]
    ) -> list[Evaluated]:
        """``evaluate`` for each input, in order; an item's failure is its EngineError."""

    async def health(self) -> dict[str, Any]:
        """``{"name", "healthy", "revision", "detail"}`` of this engine."""
