"""SARK's in-process Rego engine (regorus) and decision cache (dashmap).

`RUST_AVAILABLE` says whether the compiled extension is serving these names. When it
cannot be imported, or `SARK_NATIVE=0` is set, `Cache` is the pure-Python twin with the
same behaviour and `PolicyEngine()` raises `NativeUnavailableError` explaining how to get
the real one; importing this package never fails.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sark.native._fallback import __version__, bundle_revision

if TYPE_CHECKING:
    from sark.native._native import (
        Cache,
        NativeError,
        NativeUnavailableError,
        PolicyCompileError,
        PolicyEngine,
        PolicyEvaluationError,
        PolicyTimeoutError,
    )

    RUST_AVAILABLE: bool
else:
    try:
        # The one environment read at import: which implementation backs these names
        # must be fixed before anyone holds a reference to them.
        if os.environ.get("SARK_NATIVE", "").strip() == "0":
            raise ImportError("disabled by SARK_NATIVE=0")
        from sark.native._native import (
            Cache,
            NativeError,
            NativeUnavailableError,
            PolicyCompileError,
            PolicyEngine,
            PolicyEvaluationError,
            PolicyTimeoutError,
        )

        RUST_AVAILABLE = True
    except ImportError as exc:
        from sark.native import _fallback
        from sark.native._fallback import (
            Cache,
            NativeError,
            NativeUnavailableError,
            PolicyCompileError,
            PolicyEngine,
            PolicyEvaluationError,
            PolicyTimeoutError,
        )

        _fallback.set_unavailable_reason(str(exc))
        RUST_AVAILABLE = False

__all__ = [
    "RUST_AVAILABLE",
    "Cache",
    "NativeError",
    "NativeUnavailableError",
    "PolicyCompileError",
    "PolicyEngine",
    "PolicyEvaluationError",
    "PolicyTimeoutError",
    "__version__",
    "bundle_revision",
]
