"""Policy engines: OPA over HTTP, regorus in process, and the router between them."""

from sark.api.domain.policy.engines.native import NativeEngine, native_module
from sark.api.domain.policy.engines.opa_http import OpaHttpEngine
from sark.api.domain.policy.engines.protocol import (
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    NoPolicyEngineError,
    PolicyEngine,
    StagedLoad,
)
from sark.api.domain.policy.engines.router import EngineRouter

__all__ = [
    "EngineError",
    "EngineRouter",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "NativeEngine",
    "NoPolicyEngineError",
    "OpaHttpEngine",
    "PolicyEngine",
    "StagedLoad",
    "native_module",
]
