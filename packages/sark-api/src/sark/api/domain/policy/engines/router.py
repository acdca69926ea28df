"""Choosing the engine for each decision (ARCHITECTURE §4).

One engine configured: it answers everything. Both: the ``rust_opa`` flag assigns each
subject a stable bucket; assigned subjects go to the native engine, the others to OPA.
On an engine error the other engine answers when ``fallback_on_error`` is set; in shadow
mode the other engine also evaluates (after the answer is ready, off the request path)
and any difference is counted. Flags are read through one accessor on every call so the
runtime flag store can replace the start-up settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sark.api.domain.policy.bundle import Bundle
from sark.api.domain.policy.engines.protocol import (
    EngineError,
    Evaluated,
    NoPolicyEngineError,
    PolicyEngine,
    StagedLoad,
)
from sark.api.observability.metrics import Telemetry
from sark.core.flags import RolloutFlag

log = logging.getLogger("sark.policy.router")
FlagReader = Callable[[], RolloutFlag]


class EngineRouter:
    """Routes evaluations between the native engine and OPA."""

    def __init__(
        self,
        native: PolicyEngine | None,
        opa: PolicyEngine | None,
        flag: FlagReader,
        telemetry: Telemetry,
    ) -> None:
        """Route between ``native`` and ``opa`` (either may be None) following ``flag()``."""
        self.native = native
        self.opa = opa
        self._flag = flag
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._eval_seconds = telemetry.histogram(
            "opa_evaluation_duration_seconds",
            "Time of one policy evaluation by engine implementation.",
            ("implementation",),
        )
        self._eval_errors = telemetry.counter(
            "opa_evaluation_errors_total", "Failed policy evaluations.", ("implementation",)
        )
        # Names and labels of the 1.4 migration guide (shared with sark.api.domain.admin).
        self._fallbacks = telemetry.counter(
            "implementation_fallback_total",
            "Operations the other implementation served after an error (fallback_on_error).",
            ("feature", "from_implementation", "to_implementation"),
        )
        assignments = telemetry.counter(
            "feature_flag_assignments_total",
            "Decisions routed by a rollout flag, by the implementation that was chosen.",
            ("feature", "implementation"),
        )
        self._assigned_native = assignments.labels("rust_opa", "rust")
        self._assigned_opa = assignments.labels("rust_opa", "opa")
        self._shadow = telemetry.counter(
            "policy_shadow_evaluations_total", "Shadow evaluations compared.", ("result",)
        )
        self._divergence = telemetry.counter(
            "policy_shadow_divergence_total",
            "Shadow evaluations whose decision differed from the served one.",
        )

    @property
    def engines(self) -> list[PolicyEngine]:
        """The configured engines, native first."""
        return [e for e in (self.native, self.opa) if e is not None]

    def choose(self, subject_id: str) -> tuple[PolicyEngine, PolicyEngine | None]:
        """The primary engine for ``subject_id`` and the other one (if any)."""
        if self.native is None or self.opa is None:
            only = self.native or self.opa
            if only is None:
                msg = "no policy engine: install sark-native or set SARK_OPA_URL"
                raise NoPolicyEngineError(msg)
            return only, None
        if self._flag().assigns("rust_opa", subject_id):
            self._assigned_native.inc()
            return self.native, self.opa
        self._assigned_opa.inc()
        return self.opa, self.native

    async def evaluate(
        self, package: str, policy_input: dict[str, Any], subject_id: str
    ) -> tuple[Any, str]:
        """The raw ``decision`` of the routed engine and that engine's name."""
        primary, other = self.choose(subject_id)
        flag = self._flag()
        try:
            result = await self._timed(primary, package, policy_input)
        except EngineError:
            if other is None or not flag.fallback_on_error:
                raise
            log.warning("engine %s failed; %s answers", primary.name, other.name, exc_info=True)
            self._fallbacks.labels("rust_opa", primary.implementation, other.implementation).inc()
            return await self._timed(other, package, policy_input), other.name
        if other is not None and flag.shadow:
            self._shadow_compare(other, package, policy_input, result)
        return result, primary.name

    async def evaluate_many(
        self, package: str, inputs: Sequence[dict[str, Any]], subject_id: str
    ) -> list[tuple[Any, str] | EngineError]:
        """``evaluate`` for a batch of one subject: each item's decision and engine, in order.

        The routed engine takes the batch in one call; items it failed go to the other
        engine as one batch when ``fallback_on_error`` is set; an item that no engine
        answered is its EngineError.
        """
        primary, other = self.choose(subject_id)
        flag = self._flag()
        first = await self._timed_many(primary, package, inputs)
        answers: list[tuple[Any, str] | EngineError] = [
            r if isinstance(r, EngineError) else (r, primary.name) for r in first
        ]
        failed = [i for i, r in enumerate(first) if isinstance(r, EngineError)]
        if failed and other is not None and flag.fallback_on_error:
            log.warning("engine %s failed %d of %d; %s answers them", primary.name, len(failed),
                        len(inputs), other.name)  # fmt: skip
            self._fallbacks.labels("rust_opa", primary.implementation, other.implementation).inc(
                len(failed)
            )
            second = await self._timed_many(other, package, [inputs[i] for i in failed])
            for i, result in zip(failed, second, strict=True):
                answers[i] = result if isinstance(result, EngineError) else (result, other.name)
        if other is not None and flag.shadow:
            for policy_input, result in zip(inputs, first, strict=True):
                if not isinstance(result, EngineError):
                    self._shadow_compare(other, package, policy_input, result)
        return answers

    async def _timed_many(
        self, engine: PolicyEngine, package: str, inputs: Sequence[dict[str, Any]]
    ) -> list[Any]:
        evaluated: list[Evaluated] = await engine.evaluate_many(package, inputs)
        seconds = self._eval_seconds.labels(engine.implementation)
        errors = self._eval_errors.labels(engine.implementation)
        for result, spent in evaluated:
            seconds.observe(spent)
            if isinstance(result, EngineError):
                errors.inc()
        return [result for result, _ in evaluated]

    def _shadow_compare(
        self, engine: PolicyEngine, package: str, policy_input: dict[str, Any], served: Any
    ) -> None:
        task = asyncio.create_task(self._compare(engine, package, policy_input, served))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _timed(self, engine: PolicyEngine, package: str, policy_input: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return await engine.evaluate(package, policy_input)
        except EngineError:
            self._eval_errors.labels(engine.implementation).inc()
            raise
        finally:
            self._eval_seconds.labels(engine.implementation).observe(time.perf_counter() - started)

    async def _compare(
        self, engine: PolicyEngine, package: str, policy_input: dict[str, Any], served: Any
    ) -> None:
        try:
            shadow = await self._timed(engine, package, policy_input)
        except EngineError:
            self._shadow.labels("error").inc()
            return
        if shadow == served:
            self._shadow.labels("same").inc()
            return
        self._shadow.labels("different").inc()
        self._divergence.inc()
        log.warning(
            "shadow divergence on %s: served %r, %s gave %r", package, served, engine.name, shadow
        )

    async def load(self, bundle: Bundle, *, lenient: bool = False) -> list[str]:
        """Load ``bundle`` into every engine, or into none (the old one keeps serving).

        With ``lenient`` (start-up) an unreachable engine adopts the bundle for later
        instead of failing the load; the names of such engines are returned.
        """
        staged: list[StagedLoad] = []
        deferred: list[PolicyEngine] = []
        try:
            for engine in self.engines:
                try:
                    staged.append(await engine.stage(bundle))
                except EngineError:
                    if not lenient:
                        raise
                    deferred.append(engine)
        except BaseException:
            for done in reversed(staged):
                await done.abort()
            raise
        for done in staged:
            done.commit()
        for engine in deferred:
            await engine.adopt(bundle)
        return [engine.name for engine in deferred]

    async def drain(self) -> None:
        """Wait for shadow evaluations in flight (shutdown and tests)."""
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
