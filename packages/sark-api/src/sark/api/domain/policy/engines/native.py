"""The in-process regorus engine of sark-native behind the decision-service protocol.

Evaluation runs on a small pool of threads (it releases the GIL), never on the event
loop. regorus checks its time limit between instructions but not inside a builtin, so one
call such as ``numbers.range(1, input.n)`` with a huge ``n`` can run for seconds past
``timeout_ms``; on the loop it would stall every request of the worker. Off the loop,
the request gets a timeout deny one second past the limit at the latest, and the worker
keeps serving meanwhile;
the pool's size bounds how many such runaway calls can hold threads at once, and further
evaluations queue and time out (fail closed) rather than pile up.

A batch (``evaluate_many``) is one hand-off to the pool: one thread evaluates the items
in order, so a batch of a hundred pays one thread switch instead of a hundred. Its
deadline is the sum of the items' limits plus the same grace; when it passes, the
thread stops before its next item and every item without an answer is a timeout deny.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sark.api.domain.policy.bundle import Bundle, PolicyBundleError
from sark.api.domain.policy.engines.protocol import EngineError, EngineTimeoutError, Evaluated

if TYPE_CHECKING:
    from types import ModuleType


def native_module() -> ModuleType | None:
    """``sark.native`` when its compiled engine is importable, else None."""
    try:
        native = importlib.import_module("sark.native")
    except ImportError:
        return None
    return native if getattr(native, "RUST_AVAILABLE", False) else None


@dataclass(slots=True)
class _Staged:
    owner: NativeEngine
    engine: Any
    revision: str

    def commit(self) -> None:
        self.owner._engine = self.engine
        self.owner._revision = self.revision

    async def abort(self) -> None:
        """Nothing to undo: the staged engine was never serving."""


class NativeEngine:
    """regorus through sark.native, with bundles swapped whole."""

    name = "native"
    implementation = "rust"

    def __init__(self, module: ModuleType, timeout_ms: int, grace_seconds: float = 1.0) -> None:
        """Wrap ``module`` (``sark.native``); each evaluation is limited to ``timeout_ms``.

        regorus's own timer stops loops at the limit; ``grace_seconds`` past it, the outer
        deadline catches a builtin that cannot be interrupted (see the module docstring).
        """
        self._native = module
        self._timeout_ms = timeout_ms
        self._grace = grace_seconds
        self._deadline = timeout_ms / 1000 + grace_seconds
        self._engine: Any = None
        self._revision: str | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def revision(self) -> str | None:
        """Revision serving now."""
        return self._revision

    async def stage(self, bundle: Bundle) -> _Staged:
        """Compile ``bundle`` into a fresh engine (the current one keeps serving)."""
        engine = self._native.PolicyEngine(timeout_ms=self._timeout_ms)
        try:
            revision = engine.load_bundle(bundle.path)
        except self._native.PolicyCompileError as exc:
            msg = f"policy bundle does not compile on the native engine: {exc}"
            raise PolicyBundleError(msg) from None
        if revision != bundle.revision:
            msg = "the policy bundle changed on disk while it was loaded; reload again"
            raise PolicyBundleError(msg)
        return _Staged(self, engine, revision)

    async def adopt(self, bundle: Bundle) -> None:
        """Load ``bundle`` now (an in-process engine is never unreachable)."""
        (await self.stage(bundle)).commit()

    async def evaluate(self, package: str, policy_input: dict[str, Any]) -> Any:
        """Evaluate ``data.<package>.decision``."""
        engine = self._serving()
        running = asyncio.get_running_loop().run_in_executor(
            self._threads(), engine.evaluate, f"data.{package}.decision", policy_input
        )
        try:
            return await asyncio.wait_for(running, self._deadline)
        except TimeoutError:
            msg = f"the native engine did not finish within {self._deadline:.3g} s"
            raise EngineTimeoutError(msg) from None
        except self._native.PolicyTimeoutError as exc:
            raise EngineTimeoutError(str(exc)) from None
        except self._native.NativeError as exc:
            raise EngineError(str(exc), "engine_error:native_evaluation") from None

    async def evaluate_many(
        self, package: str, inputs: Sequence[dict[str, Any]]
    ) -> list[Evaluated]:
        """Evaluate each input in order on one pool thread (see the module docstring)."""
        try:
            engine = self._serving()
        except EngineError as exc:
            return [(exc, 0.0)] * len(inputs)
        done: list[Evaluated] = []
        stop = threading.Event()
        running = asyncio.get_running_loop().run_in_executor(
            self._threads(), self._run_batch, engine, f"data.{package}.decision", inputs, done,
            stop,
        )  # fmt: skip
        deadline = len(inputs) * self._timeout_ms / 1000 + self._grace
        try:
            await asyncio.wait_for(running, deadline)
        except TimeoutError:
            stop.set()
            answered = list(done)
            msg = f"the native engine did not finish the batch within {deadline:.3g} s"
            late: Evaluated = (EngineTimeoutError(msg), deadline)
            return answered + [late] * (len(inputs) - len(answered))
        return done

    def _run_batch(
        self,
        engine: Any,
        rule: str,
        inputs: Sequence[dict[str, Any]],
        done: list[Evaluated],
        stop: threading.Event,
    ) -> None:
        for policy_input in inputs:
            if stop.is_set():
                return
            started = time.perf_counter()
            try:
                result: Any = engine.evaluate(rule, policy_input)
            except self._native.PolicyTimeoutError as exc:
                result = EngineTimeoutError(str(exc))
            except self._native.NativeError as exc:
                result = EngineError(str(exc), "engine_error:native_evaluation")
            done.append((result, time.perf_counter() - started))

    def _serving(self) -> Any:
        engine = self._engine
        if engine is None:
            msg = "no bundle loaded in the native engine"
            raise EngineError(msg, "engine_error:native_not_loaded")
        return engine

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="sark-rego"
            )
        return self._pool

    def close(self, wait: bool = False) -> None:
        """Let go of the evaluation threads; ``wait`` for a runaway evaluation to end."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    async def health(self) -> dict[str, Any]:
        """Healthy once a bundle is loaded."""
        loaded = self._engine is not None
        return {
            "name": self.name,
            "healthy": loaded,
            "revision": self._revision,
            "detail": "in process (regorus)" if loaded else "no bundle loaded",
        }
