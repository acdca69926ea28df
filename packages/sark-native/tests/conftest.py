"""Shared fixtures: cache implementations and bundle directories written to tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sark.native import RUST_AVAILABLE, _fallback

BundleFactory = Callable[..., Path]

NATIVE_SKIP_REASON = "sark.native._native is not in use (not built, or SARK_NATIVE=0)"


@pytest.fixture(name="cache_cls", params=["native", "fallback"])
def fixture_cache_cls(request: pytest.FixtureRequest) -> type[Any]:
    """Each Cache implementation in turn; the native one only when it is in use."""
    if request.param == "fallback":
        return _fallback.Cache
    if not RUST_AVAILABLE:
        pytest.skip(NATIVE_SKIP_REASON)
    from sark.native import _native

    return _native.Cache


@pytest.fixture(name="make_bundle")
def fixture_make_bundle(tmp_path: Path) -> BundleFactory:
    """Write a bundle directory: `{relpath: text-or-json-able}`; returns its root."""
    counter = 0

    def make(files: dict[str, Any], name: str | None = None) -> Path:
        nonlocal counter
        counter += 1
        root = tmp_path / (name or f"bundle{counter}")
        for relpath, content in files.items():
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            text = content if isinstance(content, str) else json.dumps(content)
            path.write_text(text, encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        return root

    return make
