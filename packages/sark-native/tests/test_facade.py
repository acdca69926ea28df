"""The facade: names, fallback selection, exception hierarchy, version."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

import sark.native
from sark.native import (
    RUST_AVAILABLE,
    NativeError,
    NativeUnavailableError,
    PolicyCompileError,
    PolicyEvaluationError,
    PolicyTimeoutError,
)


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_all_is_sorted_and_every_name_exists() -> None:
    names = sark.native.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        assert hasattr(sark.native, name), name


def test_exception_hierarchy() -> None:
    assert issubclass(PolicyCompileError, NativeError)
    assert issubclass(PolicyEvaluationError, NativeError)
    assert issubclass(PolicyTimeoutError, PolicyEvaluationError)
    assert issubclass(NativeUnavailableError, NativeError)
    assert issubclass(NativeError, Exception)


def test_exceptions_come_from_the_implementation_in_use() -> None:
    if RUST_AVAILABLE:
        from sark.native import _native

        assert PolicyTimeoutError is _native.PolicyTimeoutError
        assert NativeError is _native.NativeError
    else:
        assert PolicyTimeoutError.__module__ == "sark.native._fallback"


def test_sark_native_0_forces_the_fallback() -> None:
    out = _run(
        "import sark.native as n; print(n.RUST_AVAILABLE, n.Cache.__module__)",
        SARK_NATIVE="0",
    )
    assert out == "False sark.native._fallback"


def test_fallback_policy_engine_explains_how_to_get_the_native_one() -> None:
    code = (
        "import sark.native as n\n"
        "try:\n    n.PolicyEngine()\n"
        "except n.NativeUnavailableError as e:\n"
        "    print('raised', isinstance(e, n.NativeError), e)\n"
    )
    out = _run(code, SARK_NATIVE="0")
    assert out.startswith("raised True")
    assert "SARK_NATIVE=0" in out
    assert "maturin develop --release" in out


def test_version_matches_the_distribution() -> None:
    assert sark.native.__version__ == importlib.metadata.version("sark-native")


def test_sark_is_a_namespace_package() -> None:
    import sark

    assert getattr(sark, "__file__", None) is None


@pytest.mark.skipif(not RUST_AVAILABLE, reason="native extension not in use")
def test_native_is_selected_when_built() -> None:
    assert _run("import sark.native as n; print(n.RUST_AVAILABLE)") == "True"
