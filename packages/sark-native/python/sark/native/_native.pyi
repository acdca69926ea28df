"""Type stub of the compiled extension.

Checked against the binary with `python -m mypy.stubtest sark.native._native`.
"""

import os
from typing import Any, final

__all__ = [
    "REGORUS_VERSION",
    "Cache",
    "NativeError",
    "NativeUnavailableError",
    "PolicyCompileError",
    "PolicyEngine",
    "PolicyEvaluationError",
    "PolicyTimeoutError",
    "bundle_revision",
]

REGORUS_VERSION: str

class NativeError(Exception):
    """Base class of every error raised by sark.native."""

class PolicyCompileError(NativeError):
    """A bundle, module or data document could not be loaded; the previous bundle keeps serving."""

class PolicyEvaluationError(NativeError):
    """Evaluating a rule failed."""

class PolicyTimeoutError(PolicyEvaluationError):
    """Evaluating a rule exceeded the engine's per-evaluation time limit."""

class NativeUnavailableError(NativeError):
    """The native extension is not available in this process."""

@final
class PolicyEngine:
    """In-process Rego engine (regorus) with atomic bundle reloads."""

    def __new__(cls, timeout_ms: int = 50, pool_size: int | None = None) -> PolicyEngine: ...
    def load_bundle(self, path: str | os.PathLike[str]) -> str:
        """Load a bundle directory as OPA does, replacing everything; returns its revision."""
    def add_module(self, name: str, source: str) -> None:
        """Add (or replace) one Rego module, keeping everything else."""
    def add_data(self, obj: dict[str, Any]) -> None:
        """Deep-merge a data document into the current data (conflicts are errors)."""
    @property
    def revision(self) -> str | None:
        """Revision of the bundle serving now, or None before the first load."""
    def packages(self) -> list[str]:
        """Rego package names loaded, sorted (e.g. `mcp.authz`)."""
    def evaluate(self, rule_path: str, input: object) -> Any:  # noqa: A002 - OPA's name
        """Evaluate a rule path such as `data.mcp.authz.decision`; undefined gives None."""
    def execution_mode(self, rule_path: str) -> str:
        """`"compiled"` when `rule_path` runs on the RVM, `"interpreted"` on the fallback."""
    @property
    def timeout_ms(self) -> int:
        """Per-evaluation time limit in milliseconds."""
    @property
    def pool_size(self) -> int:
        """Idle VMs kept per rule path."""

@final
class Cache:
    """Thread-safe LRU + TTL cache of Python objects."""

    def __new__(cls, max_size: int = 10000, ttl_seconds: float = 300.0) -> Cache: ...
    def get(self, key: str) -> object | None:
        """The live value stored under `key`, or None."""
    def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` under `key` for `ttl` seconds (default: the cache's ttl)."""
    def delete(self, key: str) -> bool:
        """Remove `key`; True when it was present."""
    def clear(self) -> None:
        """Remove every entry."""
    def cleanup_expired(self) -> int:
        """Remove expired entries; returns how many were removed."""
    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, expirations, size, max_size."""
    @property
    def max_size(self) -> int:
        """Maximum number of entries."""
    @property
    def ttl_seconds(self) -> float:
        """Default ttl in seconds."""
    def __len__(self) -> int: ...

def bundle_revision(path: str | os.PathLike[str]) -> str:
    """Revision of the bundle directory at `path`, as `PolicyEngine.load_bundle` computes it."""
