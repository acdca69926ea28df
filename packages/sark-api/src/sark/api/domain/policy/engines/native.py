"""The in-process regorus engine of sark-native behind the decision-service protocol.

Evaluation runs directly on the event loop: it takes microseconds and releases the GIL,
so a thread hop would cost more than it saves.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sark.api.domain.policy.bundle import Bundle, PolicyBundleError
from sark.api.domain.policy.engines.protocol import EngineError, EngineTimeoutError

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

    def __init__(self, module: ModuleType, timeout_ms: int) -> None:
        """Wrap ``module`` (``sark.native``); each evaluation is limited to ``timeout_ms``."""
        self._native = module
        self._timeout_ms = timeout_ms
        self._engine: Any = None
        self._revision: str | None = None

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
        engine = self._engine
        if engine is None:
            msg = "no bundle loaded in the native engine"
            raise EngineError(msg, "engine_error:native_not_loaded")
        try:
            return engine.evaluate(f"data.{package}.decision", policy_input)
        except self._native.PolicyTimeoutError as exc:
            raise EngineTimeoutError(str(exc)) from None
        except self._native.NativeError as exc:
            raise EngineError(str(exc), "engine_error:native_evaluation") from None

    async def health(self) -> dict[str, Any]:
        """Healthy once a bundle is loaded."""
        loaded = self._engine is not None
        return {
            "name": self.name,
            "healthy": loaded,
            "revision": self._revision,
            "detail": "in process (regorus)" if loaded else "no bundle loaded",
        }
