"""Evaluations racing bundle reloads always see one consistent revision."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sark.native import RUST_AVAILABLE, PolicyEngine

from .conftest import NATIVE_SKIP_REASON, BundleFactory

pytestmark = pytest.mark.skipif(not RUST_AVAILABLE, reason=NATIVE_SKIP_REASON)

# The policy and the data each carry the bundle's marker: a decision mixing policy
# from one bundle with data from another would show two different markers.
POLICY = """package mcp.authz

import rego.v1

decision := {{"policy": "{marker}", "data": data.data.mcp.authz.marker, "n": input.n}}
"""

EVALUATORS = 4
EVALUATIONS = 400
RELOADS = 40


def bundle(make_bundle: BundleFactory, marker: str) -> Path:
    return make_bundle(
        {
            "policies/authz.rego": POLICY.format(marker=marker),
            "data/mcp/authz/data.json": {"marker": marker},
        },
        name=marker,
    )


def test_reloads_under_load_serve_consistent_revisions(make_bundle: BundleFactory) -> None:
    bundles = {m: bundle(make_bundle, m) for m in ("A", "B")}
    engine = PolicyEngine(timeout_ms=5000, pool_size=2)
    engine.load_bundle(bundles["A"])
    problems: list[str] = []
    seen: set[str] = set()
    start = threading.Barrier(EVALUATORS + 1)

    def evaluate(worker: int) -> None:
        start.wait()
        for i in range(EVALUATIONS):
            try:
                decision = engine.evaluate("data.mcp.authz.decision", {"n": i})
            except Exception as exc:
                problems.append(f"worker {worker}: {exc!r}")
                return
            if decision["policy"] != decision["data"] or decision["n"] != i:
                problems.append(f"worker {worker}: inconsistent {decision}")
            seen.add(decision["policy"])

    threads = [threading.Thread(target=evaluate, args=(w,)) for w in range(EVALUATORS)]
    for thread in threads:
        thread.start()
    start.wait()
    for reload in range(RELOADS):
        marker = "B" if reload % 2 == 0 else "A"
        revision = engine.load_bundle(bundles[marker])
        assert engine.revision == revision
        decision = engine.evaluate("data.mcp.authz.decision", {"n": -1})
        assert decision["policy"] == decision["data"] == marker
    for thread in threads:
        thread.join()
    assert problems == []
    assert seen <= {"A", "B"}
