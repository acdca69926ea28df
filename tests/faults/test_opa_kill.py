"""The OPA server is SIGKILLed under load, then restarted empty on the same port.

OPA is the primary engine (``rust_opa`` off). With ``fallback_on_error`` the native engine
answers while OPA is gone; without it every decision OPA should have made is a deny
naming the failure. Once OPA is back each worker pushes its bundle again and OPA answers.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

from tests.faults.harness import (
    Load,
    cases,
    check_responses,
    full_stack,
    merge,
    probe_decision,
    reference,
    seed,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.opa]


@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no-fallback"])
async def test_opa_crash_under_load_fails_closed_or_falls_back(
    tmp_path: Path, fallback: bool
) -> None:
    env = {"SARK_RUST_OPA_FALLBACK_ON_ERROR": str(fallback).lower()}
    with full_stack(tmp_path, env) as stack:
        sark, opa = stack.sark, stack.opa
        seeded = await seed(sark.base)
        all_cases = cases(gateway=True)
        before = await reference(sark.base, seeded, all_cases)
        async with httpx.AsyncClient(base_url=sark.base) as client:
            bundle = (
                await client.get(
                    "/api/v1/policy/bundle",
                    headers={"Authorization": f"Bearer {seeded.admin}"},
                )
            ).json()
        assert opa.revision() == bundle["revision"]

        async def opa_answers() -> bool:
            probe = await probe_decision(sark.base, seeded.admin, "srv-alpha", "tool-low")
            return probe["engine"] == "opa" and probe["allow"] is True

        load = Load(sark.base, seeded, all_cases)
        load.start()
        try:
            await load.run_for(3)
            load.phase = "during"
            killed = time.monotonic()
            await anyio.to_thread.run_sync(opa.kill)
            await load.run_for(4)
            load.phase = "restarted"
            await anyio.to_thread.run_sync(opa.start)
            # Both workers (fresh connections reach either) push the bundle and use OPA again.
            await wait_until(opa_answers, "OPA answers again", within=60, streak=20)
            recovered = time.monotonic()
            load.phase = "after"
            await load.run_for(3)
        finally:
            outcomes = await load.stop()
        after = await reference(sark.base, seeded, all_cases)
        report = check_responses(outcomes, merge(before, after))

        during = [o for o in outcomes if o.phase == "during"]
        assert len(during) > 20, report.by_phase
        # Fail-closed denies only while OPA was down (requests in flight at the kill included).
        assert all(killed <= f.ended and f.started <= recovered for f in report.failures)
        engines = {o.body.get("engine") for o in during if o.body and "engine" in o.body}
        if fallback:
            # The native engine answered every decision OPA could not make.
            assert not report.failures, [f.body for f in report.failures[:3]]
            assert "native" in engines, engines
        else:
            # No fallback: uncached decisions were denied, naming the unavailable engine.
            assert report.failures, report.by_phase
            assert "native" not in engines, engines
            reasons = {f.reason for f in report.failures}
            assert reasons <= {"engine_error:opa_unavailable", "engine_timeout"}, reasons
        # OPA holds SARK's bundle again (pushed after the restart) and serves it.
        assert opa.revision() == bundle["revision"]
        final = [o for o in outcomes if o.phase == "after" and o.case.unique]
        final_engines = {
            o.body["engine"] for o in final if o.body and o.case.endpoint == "evaluate"
        }
        assert final_engines == {"opa"}, final_engines
