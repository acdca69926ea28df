"""Python <-> regorus Value conversion round trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sark.native import RUST_AVAILABLE, PolicyEngine

from .conftest import NATIVE_SKIP_REASON

pytestmark = pytest.mark.skipif(not RUST_AVAILABLE, reason=NATIVE_SKIP_REASON)

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal with types kept, except that an integral float may come back as an int."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, float):
        return isinstance(b, (int, float)) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


@pytest.fixture(name="echo", scope="module")
def fixture_echo() -> PolicyEngine:
    """An engine whose rule returns its input unchanged."""
    engine = PolicyEngine(timeout_ms=1000)
    engine.add_module("echo.rego", "package echo\nout := input\n")
    return engine


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_round_trip_preserves_json_values(echo: PolicyEngine, value: Any) -> None:
    assert same(value, echo.evaluate("data.echo.out", value))


def test_tuples_become_lists(echo: PolicyEngine) -> None:
    assert echo.evaluate("data.echo.out", {"t": (1, "a")}) == {"t": [1, "a"]}


def test_integral_floats_come_back_as_int_like_opa_json(echo: PolicyEngine) -> None:
    out = echo.evaluate("data.echo.out", [2.0, 2.5])
    assert out == [2, 2.5]
    assert type(out[0]) is int
