"""Pure-Python twins of the native names, used when the extension is absent or disabled.

`Cache` here honours the same contract as the Rust `Cache` (see `src/cache.rs`): the
shared test-suite runs against both. There is no pure-Python Rego engine, so
`PolicyEngine` only explains how to get the real one.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Final

__version__: Final = "1.4.0"

_REVISION_HEX_LEN: Final = 16


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


_unavailable_reason = "the native extension sark.native._native is not importable"


def set_unavailable_reason(reason: str) -> None:
    """Record why the facade fell back, for the message `PolicyEngine` raises."""
    global _unavailable_reason  # noqa: PLW0603 - set once by the facade at import
    _unavailable_reason = reason


class PolicyEngine:
    """Placeholder that explains how to get the native engine."""

    def __init__(self, timeout_ms: int = 50, pool_size: int | None = None) -> None:
        """Always raise NativeUnavailableError: there is no pure-Python Rego engine."""
        del timeout_ms, pool_size
        raise NativeUnavailableError(
            f"the in-process Rego engine needs the compiled extension ({_unavailable_reason}). "
            "Install a sark-native wheel for this platform (`uv pip install sark-native`), "
            "or build it from packages/sark-native with a Rust toolchain "
            "(`maturin develop --release`); unset SARK_NATIVE=0 if it is set. "
            "Alternatively configure SARK_OPA_URL to use an OPA server."
        )


def _is_bundle_file(name: str) -> bool:
    if name.startswith(".") or name.endswith("_test.rego"):
        return False
    return name.endswith((".rego", ".json"))


def bundle_files(root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """The files `load_bundle` reads, as sorted `(posix relpath, path)` pairs."""
    base = Path(root)
    if not base.is_dir():
        raise PolicyCompileError(f"bundle path {base} is not a directory")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if _is_bundle_file(name):
                path = Path(dirpath, name)
                found.append((path.relative_to(base).as_posix(), path))
    return sorted(found)


def bundle_revision(path: str | os.PathLike[str]) -> str:
    """Content revision of a bundle directory, identical to `PolicyEngine.load_bundle`'s.

    sha256 over `relpath NUL content NUL` for each bundle file in sorted POSIX-path
    order, truncated to 16 hex characters.
    """
    digest = hashlib.sha256()
    for relpath, file in bundle_files(path):
        digest.update(relpath.encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:_REVISION_HEX_LEN]


def _check_ttl(ttl: float) -> float:
    value = float(ttl)
    if math.isnan(value) or value < 0:
        raise ValueError(f"ttl must be a number >= 0, got {ttl}")
    return value


class Cache:
    """Thread-safe LRU + TTL cache (OrderedDict under a lock), same contract as native."""

    def __init__(self, max_size: int = 10000, ttl_seconds: float = 300) -> None:
        """Hold at most `max_size` entries, each living `ttl_seconds` unless told otherwise."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = int(max_size)
        self._ttl = _check_ttl(ttl_seconds)
        self._entries: OrderedDict[str, tuple[object, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._expirations = 0

    @property
    def max_size(self) -> int:
        """Maximum number of entries."""
        return self._max_size

    @property
    def ttl_seconds(self) -> float:
        """Default ttl in seconds."""
        return self._ttl

    def get(self, key: str) -> object | None:
        """The live value stored under `key`, or None."""
        if not isinstance(key, str):
            raise TypeError(f"key must be str, not {type(key).__name__}")
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            value, expires_at = entry
            if expires_at <= now:
                del self._entries[key]
                self._expirations += 1
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` under `key` for `ttl` seconds (default: the cache's ttl)."""
        if not isinstance(key, str):
            raise TypeError(f"key must be str, not {type(key).__name__}")
        seconds = self._ttl if ttl is None else _check_ttl(ttl)
        with self._lock:
            if seconds <= 0:
                self._entries.pop(key, None)
                return
            if key not in self._entries:
                while len(self._entries) >= self._max_size:
                    self._entries.popitem(last=False)
                    self._evictions += 1
            self._entries[key] = (value, time.monotonic() + seconds)
            self._entries.move_to_end(key)

    def delete(self, key: str) -> bool:
        """Remove `key`; True when it was present."""
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Remove every entry (counters are kept)."""
        with self._lock:
            self._entries.clear()

    def cleanup_expired(self) -> int:
        """Remove expired entries; returns how many were removed."""
        now = time.monotonic()
        with self._lock:
            doomed = [k for k, (_, expires_at) in self._entries.items() if expires_at <= now]
            for key in doomed:
                del self._entries[key]
            self._expirations += len(doomed)
            return len(doomed)

    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, expirations, size, max_size."""
        with self._lock:
            return {
                "hits": self._hits,
                "misses": self._misses,
                "evictions": self._evictions,
                "expirations": self._expirations,
                "size": len(self._entries),
                "max_size": self._max_size,
            }

    def __len__(self) -> int:
        """Number of stored entries (expired ones included until removed)."""
        return len(self._entries)

    def __repr__(self) -> str:
        """Summary with size."""
        return f"Cache(max_size={self._max_size}, ttl_seconds={self._ttl}, size={len(self)})"
