"""JSON limits of request bodies (``sark.api.limits``) and the NUL guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from litestar.types import Empty
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers

from sark.api import create_app
from sark.api.limits import JsonLimitError, check_json
from sark.core.settings import LimitsSettings

LIMITS = LimitsSettings(max_body_bytes=1 << 20, max_json_depth=4, max_json_nodes=20)


def test_small_bodies_are_not_decoded() -> None:
    assert check_json(b'{"action": "tool:invoke", "parameters": {"a": [1, 2]}}', LIMITS) is Empty


def test_depth_is_counted_in_containers() -> None:
    assert check_json(b'{"a": {"b": {"c": [1]}}}', LIMITS) is Empty  # 4 levels
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_DEPTH"):
        check_json(b'{"a": {"b": {"c": [[1]]}}}', LIMITS)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[[[[[[[[{{{{{{", 'b\\"[[[[': ["]]]]\\"]}).encode()
    limits = LimitsSettings(max_body_bytes=1 << 20, max_json_depth=4, max_json_nodes=10_000)
    assert check_json(body, limits) is Empty  # proved shallow without decoding
    # without an escaped quote the strings are cut out by splitting at '"'
    unescaped = json.dumps({"a": "[[[[[[[[{{{{{{", "b[[[[": ["]]]]", "}}}"]}).encode()
    assert b'\\"' not in unescaped
    assert check_json(unescaped, limits) is Empty
    deep = json.dumps({"a": "]]]]", "b": [[[["[[[["]]]]}).encode()
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_DEPTH"):
        check_json(deep, limits)


def test_many_shallow_containers_are_not_decoded() -> None:
    # More brackets than the depth limit, none nested deeper than it: a batch of items.
    limits = LimitsSettings(max_body_bytes=1 << 20, max_json_depth=4, max_json_nodes=10_000)
    batch = {"evaluations": [{"resource": {"id": f"t{i}"}} for i in range(100)]}
    assert check_json(json.dumps(batch).encode(), limits) is Empty
    deeper = {"evaluations": [{"resource": {"id": {"x": [i]}}} for i in range(100)]}
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_DEPTH"):
        check_json(json.dumps(deeper).encode(), limits)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_TEXT = st.text(alphabet='[]{}"\\\\:,ab \u00e9', max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON, limit=st.integers(min_value=1, max_value=8), spaced=st.booleans())
def test_the_bracket_bound_agrees_with_walking_the_value(
    value: Any, limit: int, spaced: bool
) -> None:
    limits = LimitsSettings(max_body_bytes=1 << 20, max_json_depth=limit, max_json_nodes=10_000)
    body = json.dumps(value, separators=(", ", ": ") if spaced else (",", ":")).encode()
    if _depth(value) > limit:
        with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_DEPTH"):
            check_json(body, limits)
    else:
        assert check_json(body, limits) in (Empty, value)


def test_nodes_count_keys_and_values() -> None:
    assert check_json(json.dumps({f"k{i}": i for i in range(9)}).encode(), LIMITS) is Empty
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_NODES"):
        check_json(json.dumps({f"k{i}": i for i in range(10)}).encode(), LIMITS)  # 21 nodes
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_NODES"):
        check_json(json.dumps([0] * 20).encode(), LIMITS)


def test_recursion_beyond_the_decoder_is_too_deep() -> None:
    """Regression: msgspec raises RecursionError past ~1000 levels, which was a 500."""
    with pytest.raises(JsonLimitError, match="SARK_MAX_JSON_DEPTH"):
        check_json(b"[" * 100_000 + b"]" * 100_000, LIMITS)


@pytest.mark.parametrize(
    "body", [b'{"a": "\\u0000"}', b'{"a\\u0000": 1}', b'[["x", {"y": ["\\u0000z"]}]]']
)
def test_nul_anywhere_is_refused(body: bytes) -> None:
    with pytest.raises(JsonLimitError, match="NUL"):
        check_json(body, LimitsSettings())


def test_escaped_backslash_before_u0000_is_text() -> None:
    assert check_json(b'{"a": "\\\\u0000"}', LimitsSettings()) == {"a": "\\u0000"}


def test_invalid_json_is_left_to_the_handler() -> None:
    assert check_json(b"[" * 50 + b"nope", LIMITS) is Empty


@pytest.mark.parametrize("body", [b'{"action": "caf\xe9"}', b'{"action": "\xc0\xaf"}'])
async def test_non_utf8_body_is_400(tmp_path: Path, database_url: str, body: bytes) -> None:
    """Regression: msgspec's UnicodeDecodeError went through Litestar as a 500."""
    settings = make_settings(tmp_path, {"SARK_DATABASE_URL": database_url})
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        headers: dict[str, Any] = {
            **await admin_headers(client),
            "content-type": "application/json",
        }
        response = await client.post("/api/v1/policy/evaluate", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "the body is not valid UTF-8 JSON"
