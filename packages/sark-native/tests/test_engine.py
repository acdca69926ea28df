"""PolicyEngine: loading like OPA, revisions, atomic reloads, errors, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sark.native import (
    RUST_AVAILABLE,
    PolicyCompileError,
    PolicyEngine,
    PolicyEvaluationError,
    PolicyTimeoutError,
    bundle_revision,
)

from .conftest import NATIVE_SKIP_REASON, BundleFactory

pytestmark = pytest.mark.skipif(not RUST_AVAILABLE, reason=NATIVE_SKIP_REASON)

AUTHZ = """package mcp.authz

import rego.v1

cfg := data.data.mcp.authz

default decision := {"allow": false, "reason": "unknown_role"}

decision := {"allow": true, "reason": "ok", "rank": rank} if {
	rank := cfg.ranks[input.role]
	rank >= cfg.min_rank
}
"""

AUTHZ_DATA = {"ranks": {"admin": 3, "viewer": 0}, "min_rank": 1}


@pytest.fixture(name="authz_bundle")
def fixture_authz_bundle(make_bundle: BundleFactory) -> Path:
    """A bundle laid out like the repository's `opa/` directory."""
    return make_bundle(
        {
            "policies/authz/authz.rego": AUTHZ,
            "policies/authz/authz_test.rego": "package mcp.authz_test\nthis is not rego\n",
            "data/mcp/authz/data.json": AUTHZ_DATA,
            ".hidden/broken.rego": "not rego either",
            "policies/.swap.rego": "nor this",
            "README.md": "# ignored",
        }
    )


@pytest.fixture(name="engine")
def fixture_engine() -> PolicyEngine:
    """A fresh engine with a generous time limit."""
    return PolicyEngine(timeout_ms=2000)


def decide(engine: PolicyEngine, role: str) -> Any:
    return engine.evaluate("data.mcp.authz.decision", {"role": role})


def test_bundle_loads_like_opa(engine: PolicyEngine, authz_bundle: Path) -> None:
    revision = engine.load_bundle(authz_bundle)
    assert engine.revision == revision
    assert engine.packages() == ["mcp.authz"]
    assert decide(engine, "admin") == {"allow": True, "reason": "ok", "rank": 3}
    assert decide(engine, "viewer") == {"allow": False, "reason": "unknown_role"}


def test_data_is_mounted_at_its_directory_and_root_json_at_the_root(
    engine: PolicyEngine, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(
        {
            "p.rego": "package p\nimport rego.v1\nnested := data.a.b\ntop := data.flag\n",
            "a/b/values.json": {"x": 1},
            "data.json": {"flag": True},
        }
    )
    engine.load_bundle(str(bundle))
    assert engine.evaluate("data.p.nested", {}) == {"x": 1}
    assert engine.evaluate("data.p.top", {}) is True


def test_revision_matches_pure_python_and_native_functions(
    engine: PolicyEngine, authz_bundle: Path
) -> None:
    from sark.native import _fallback, _native

    revision = engine.load_bundle(authz_bundle)
    assert revision == bundle_revision(authz_bundle) == _native.bundle_revision(authz_bundle)
    assert revision == _fallback.bundle_revision(authz_bundle)
    assert len(revision) == 16
    int(revision, 16)


def test_revision_ignores_skipped_files_and_follows_content(
    engine: PolicyEngine, authz_bundle: Path
) -> None:
    first = engine.load_bundle(authz_bundle)
    (authz_bundle / "policies/authz/more_test.rego").write_text("package t\n")
    (authz_bundle / "notes.txt").write_text("x")
    assert engine.load_bundle(authz_bundle) == first
    (authz_bundle / "data/mcp/authz/data.json").write_text('{"ranks": {}, "min_rank": 9}')
    second = engine.load_bundle(authz_bundle)
    assert second != first
    assert bundle_revision(authz_bundle) == second


def test_compile_error_names_the_location_and_keeps_the_old_bundle(
    engine: PolicyEngine, authz_bundle: Path, make_bundle: BundleFactory
) -> None:
    good = engine.load_bundle(authz_bundle)
    broken = make_bundle(
        {"policies/bad.rego": "package bad\nimport rego.v1\nx if {\n  input.a ==\n}\n"}
    )
    with pytest.raises(PolicyCompileError, match=r"policies/bad\.rego:5:1"):
        engine.load_bundle(broken)
    assert engine.revision == good
    assert decide(engine, "admin")["allow"] is True


def test_missing_builtins_are_rejected_at_load_with_each_call_site(
    engine: PolicyEngine, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(
        {
            "net.rego": 'package n\nimport rego.v1\n\nmerged := net.cidr_merge(["10.0.0.0/8"])\n'
            'fetched := http.send({"method": "get", "url": "http://127.0.0.1"})\n'
        }
    )
    with pytest.raises(PolicyCompileError) as caught:
        engine.load_bundle(bundle)
    message = str(caught.value)
    assert "net.cidr_merge at net.rego:4:11" in message
    assert "http.send at net.rego:5:12" in message
    assert engine.revision is None


def test_undefined_rule_gives_none_and_unknown_rule_raises(engine: PolicyEngine) -> None:
    engine.add_module("p.rego", "package p\nimport rego.v1\nx := 1 if input.a == 1\n")
    assert engine.evaluate("data.p.x", {"a": 2}) is None
    assert engine.evaluate("data.p.x", {"a": 1}) == 1
    with pytest.raises(PolicyEvaluationError, match=r"data\.p\.nope"):
        engine.evaluate("data.p.nope", {})


def test_evaluate_before_loading_raises(engine: PolicyEngine) -> None:
    with pytest.raises(PolicyEvaluationError, match="no policy loaded"):
        engine.evaluate("data.p.x", {})
    assert engine.revision is None
    assert engine.packages() == []


def test_add_module_and_add_data_chain_the_revision(
    engine: PolicyEngine, authz_bundle: Path
) -> None:
    base = engine.load_bundle(authz_bundle)
    engine.add_module("extra.rego", "package extra\nimport rego.v1\nlimit := data.limits.max\n")
    after_module = engine.revision
    assert after_module not in (None, base)
    engine.add_data({"limits": {"max": 5}})
    assert engine.revision not in (None, after_module)
    assert engine.evaluate("data.extra.limit", {}) == 5
    assert engine.packages() == ["extra", "mcp.authz"]
    assert decide(engine, "admin")["allow"] is True


def test_add_data_conflict_is_a_compile_error_and_changes_nothing(engine: PolicyEngine) -> None:
    engine.add_data({"k": {"a": 1}})
    engine.add_module("p.rego", "package p\nv := data.k\n")
    revision = engine.revision
    with pytest.raises(PolicyCompileError, match="add_data"):
        engine.add_data({"k": {"a": 2}})
    assert engine.revision == revision
    engine.add_data({"k": {"b": 2}})
    assert engine.evaluate("data.p.v", {}) == {"a": 1, "b": 2}


def test_add_module_replaces_a_module_of_the_same_name(engine: PolicyEngine) -> None:
    engine.add_module("p.rego", "package p\nv := 1\n")
    engine.add_module("p.rego", "package p\nv := 2\n")
    assert engine.evaluate("data.p.v", {}) == 2


def test_bad_module_is_rejected_and_the_engine_keeps_serving(engine: PolicyEngine) -> None:
    engine.add_module("p.rego", "package p\nv := 1\n")
    with pytest.raises(PolicyCompileError, match=r"q\.rego"):
        engine.add_module("q.rego", "package q\nv := [\n")
    assert engine.packages() == ["p"]


def test_runaway_rule_times_out_and_the_engine_recovers(engine_fast: PolicyEngine) -> None:
    with pytest.raises(PolicyTimeoutError) as caught:
        engine_fast.evaluate("data.slow.spin", {})
    assert isinstance(caught.value, PolicyEvaluationError)
    assert "time limit" in str(caught.value)
    assert engine_fast.evaluate("data.slow.quick", {}) == 1


@pytest.fixture(name="engine_fast")
def fixture_engine_fast() -> PolicyEngine:
    """An engine with a 20 ms limit and a rule that needs seconds."""
    engine = PolicyEngine(timeout_ms=20, pool_size=2)
    engine.add_module(
        "slow.rego",
        "package slow\nimport rego.v1\nquick := 1\n"
        "spin := count([x | some i in numbers.range(1, 3000); "
        "some j in numbers.range(1, 3000); x := i * j])\n",
    )
    return engine


def test_walk_policies_run_compiled(engine: PolicyEngine) -> None:
    engine.add_module(
        "w.rego",
        "package w\nimport rego.v1\n"
        'secret := {"password", "token"}\n'
        "paths contains p if {\n\twalk(input, [p, _])\n\tcount(p) > 0\n"
        "\tlower(p[count(p) - 1]) in secret\n}\n",
    )
    assert engine.execution_mode("data.w.paths") == "compiled"
    found = engine.evaluate("data.w.paths", {"a": {"Token": 1}, "password": 2, "b": [3]})
    assert sorted(found) == [["a", "Token"], ["password"]]


def test_input_conversion_errors(engine: PolicyEngine) -> None:
    engine.add_module("echo.rego", "package echo\nout := input\n")
    with pytest.raises(TypeError, match="dict keys must be str"):
        engine.evaluate("data.echo.out", {1: "x"})
    with pytest.raises(TypeError, match="set"):
        engine.evaluate("data.echo.out", {"s": {1, 2}})
    with pytest.raises(ValueError, match="non-finite"):
        engine.evaluate("data.echo.out", {"f": float("inf")})


def test_sets_come_back_as_lists(engine: PolicyEngine) -> None:
    engine.add_module("s.rego", 'package s\nimport rego.v1\nnames := {"b", "a"}\n')
    assert engine.evaluate("data.s.names", None) == ["a", "b"]


def test_constructor_validates_arguments() -> None:
    with pytest.raises(ValueError, match="timeout_ms"):
        PolicyEngine(timeout_ms=0)
    with pytest.raises(ValueError, match="pool_size"):
        PolicyEngine(pool_size=0)
    engine = PolicyEngine(timeout_ms=75, pool_size=3)
    assert (engine.timeout_ms, engine.pool_size) == (75, 3)
    assert repr(engine) == "PolicyEngine(revision=None, timeout_ms=75, pool_size=3)"
