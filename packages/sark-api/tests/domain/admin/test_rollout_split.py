"""The ``rust_opa`` rollout splits subjects as documented, and the metrics show the split.

One app with both engines (sark-native and the session OPA server). An admin evaluates for
400 distinct subjects (``subject`` override) at 0 %, 25 % and 50 %:

- the share served by the native engine lies within a 99.9 % binomial bound of the
  percentage, and each subject's engine is the one the documented bucket
  ``int.from_bytes(sha256(f"{feature}:{subject_id}")[:8], "big") % 100 < percentage`` names;
- ``feature_flag_assignments_total{feature="rust_opa",implementation="rust"|"opa"}`` (on
  ``/metrics`` and in ``GET /admin/features``) grows by exactly the observed counts;
- at 0 % no subject is native; at a fixed percentage no subject ever flips; raising 25 -> 50
  only moves subjects from OPA to native.

Decisions are about an unregistered server, which are never cached, so every request is a
routed evaluation. SQLite only: the database plays no part in the split. The split is
only observable when every routed engine answers: the time limit is generous (a loaded CI
machine once made OPA miss the default 250 ms and the fallback served natively), and each
round checks that no fallback happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.support.app import make_settings, migrate
from tests.support.identity import admin_headers

from sark.api import create_app
from sark.api.domain.policy.engines.native import native_module

Client = AsyncTestClient  # type: ignore[type-arg]
SUBJECTS = [f"split-subject-{i:04d}" for i in range(400)]
CONCURRENCY = 8
CONFIDENCE = 0.999
ASSIGNMENTS = "feature_flag_assignments_total"
FALLBACKS = "implementation_fallback_total"


def documented_bucket(feature: str, subject_id: str) -> int:
    """The bucket exactly as docs/operations/rollout.md states it (independent of sark.core)."""
    digest = hashlib.sha256(f"{feature}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def binomial_bounds(n: int, p: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """The central ``confidence`` interval [lo, hi] of Binomial(n, p), computed exactly."""
    tail = (1 - confidence) / 2
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    below, lo = 0.0, 0
    while below + pmf[lo] <= tail:  # P(X < lo + 1) still within the lower tail
        below += pmf[lo]
        lo += 1
    above, hi = 0.0, n
    while above + pmf[hi] <= tail:
        above += pmf[hi]
        hi -= 1
    return lo, hi


def test_binomial_bounds_are_the_exact_tails() -> None:
    n, p = 400, 0.25
    lo, hi = binomial_bounds(n, p)
    cdf = [0.0]
    for k in range(n + 1):
        cdf.append(cdf[-1] + math.comb(n, k) * p**k * (1 - p) ** (n - k))
    tail = (1 - CONFIDENCE) / 2
    # P(X < lo) within the lower tail, P(X <= lo) beyond it (and mirrored above)
    assert cdf[lo] <= tail < cdf[lo + 1]
    assert 1 - cdf[hi + 1] <= tail < 1 - cdf[hi]
    # mean 100, sd 8.66: about +- 3.3 sd
    assert (lo, hi) == (72, 129)
    assert binomial_bounds(n, 0.0) == (0, 0)


@pytest.fixture(name="split_client")
async def fixture_split_client(tmp_path: Path, opa_url: str) -> AsyncIterator[Client]:
    if native_module() is None:
        pytest.skip("sark-native (the compiled extension) is not installed")
    settings = make_settings(
        tmp_path,
        {
            "SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'split.db'}",
            "SARK_OPA_URL": opa_url,
            "SARK_RUST_OPA_ENABLED": "true",
            "SARK_RUST_OPA_ROLLOUT_PCT": "0",
            # the split, not the time limit, is under test (see the module docstring)
            "SARK_POLICY_TIMEOUT_MS": "10000",
            # one admin makes every request here; the per-user limit is not under test
            "SARK_RATE_LIMIT_USER_PER_MINUTE": "0",
        },
    )
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        yield client


async def evaluate_all(
    client: Client, headers: dict[str, str], subjects: Sequence[str]
) -> dict[str, str]:
    """The engine that served one decision for each subject."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(subject: str) -> tuple[str, str]:
        body = {
            "action": "tool:invoke",
            "server": "unregistered-server",  # unknown resource: never cached
            "subject": {"id": subject, "role": "developer"},
        }
        async with gate:
            response = await client.post("/api/v1/policy/evaluate", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return subject, response.json()["engine"]

    served = dict(await asyncio.gather(*(one(s) for s in subjects)))
    assert set(served.values()) <= {"native", "opa"}, set(served.values())
    return served


async def scraped(client: Client) -> dict[str, int]:
    """``feature_flag_assignments_total{feature="rust_opa"}`` by implementation (/metrics),
    and the ``rust_opa`` fallbacks under the key ``fallback``."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    counts: dict[str, int] = {"fallback": 0}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("feature") != "rust_opa":
                continue
            if sample.name == ASSIGNMENTS:
                counts[sample.labels["implementation"]] = int(sample.value)
            elif sample.name == FALLBACKS:
                counts["fallback"] += int(sample.value)
    return counts


async def reported(client: Client, headers: dict[str, str]) -> dict[str, int]:
    """The ``assignments`` of ``rust_opa`` in ``GET /admin/features``."""
    response = await client.get("/admin/features", headers=headers)
    assert response.status_code == 200, response.text
    assignments: dict[str, int] = response.json()["rust_opa"].get("assignments", {})
    return assignments


def delta(
    after: dict[str, int], before: dict[str, int], keys: Sequence[str] = ("rust", "opa")
) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


async def set_percentage(client: Client, headers: dict[str, str], percentage: int) -> None:
    response = await client.post(
        "/admin/rollout/update",
        json={"feature": "rust_opa", "percentage": percentage},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["new"]["rollout_percentage"] == percentage


async def measured_round(
    client: Client, headers: dict[str, str], subjects: Sequence[str]
) -> dict[str, str]:
    """One evaluation per subject; the metrics must count exactly what was served."""
    metrics_before, admin_before = await scraped(client), await reported(client, headers)
    served = await evaluate_all(client, headers, subjects)
    native = sum(1 for engine in served.values() if engine == "native")
    expected = {"rust": native, "opa": len(subjects) - native}
    metrics_after = await scraped(client)
    # a fallback serves a subject on the engine it was not assigned to (see the log)
    assert delta(metrics_after, metrics_before, ("fallback",)) == {"fallback": 0}
    assert delta(metrics_after, metrics_before) == expected
    assert delta(await reported(client, headers), admin_before) == expected
    return served


def native_subjects(served: dict[str, str]) -> set[str]:
    return {subject for subject, engine in served.items() if engine == "native"}


async def test_the_split_follows_the_percentage_and_the_metrics_show_it(
    split_client: Client,
) -> None:
    client = split_client
    admin = await admin_headers(client)
    n = len(SUBJECTS)

    # dark launch: enabled at 0 %, nobody is served natively
    await set_percentage(client, admin, 0)
    at_zero = await measured_round(client, admin, SUBJECTS)
    assert native_subjects(at_zero) == set()

    # 25 %: about a quarter, each subject where the documented bucket puts it
    await set_percentage(client, admin, 25)
    at_25 = await measured_round(client, admin, SUBJECTS)
    chosen_25 = native_subjects(at_25)
    lo, hi = binomial_bounds(n, 0.25)
    assert lo <= len(chosen_25) <= hi, (len(chosen_25), (lo, hi))
    assert chosen_25 == {s for s in SUBJECTS if documented_bucket("rust_opa", s) < 25}

    # the same subjects again, in another order: nobody flips
    again = await measured_round(client, admin, list(reversed(SUBJECTS)))
    assert again == at_25

    # 25 -> 50: only moves from OPA to native, never back
    await set_percentage(client, admin, 50)
    at_50 = await measured_round(client, admin, SUBJECTS)
    chosen_50 = native_subjects(at_50)
    assert chosen_25 <= chosen_50, sorted(chosen_25 - chosen_50)[:5]
    assert chosen_50 - chosen_25, "raising the percentage moved nobody"
    lo, hi = binomial_bounds(n, 0.5)
    assert lo <= len(chosen_50) <= hi, (len(chosen_50), (lo, hi))
    assert await evaluate_all(client, admin, SUBJECTS) == at_50

    # and back to 0 %: nobody is native any more
    await set_percentage(client, admin, 0)
    assert native_subjects(await measured_round(client, admin, SUBJECTS)) == set()
