"""PostgreSQL crashes (``pg_ctl stop -m immediate``) under load, then comes back.

Decisions keep flowing (tokens, catalog facts and flags are served from memory), the
audit writer of each worker spools while the database is down and replays in order once
it returns: every decision a client received is stored exactly once.
"""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest

from tests.faults.harness import (
    Load,
    cases,
    check_audit,
    check_responses,
    check_writer_order,
    full_stack,
    merge,
    reference,
    seed,
    stored_events,
    wait_audited,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.opa]


async def test_postgres_crash_under_load_loses_no_decision_and_no_audit_event(
    tmp_path: Path,
) -> None:
    with full_stack(tmp_path) as stack:
        sark = stack.sark
        seeded = await seed(sark.base)
        all_cases = cases(gateway=True)
        before = await reference(sark.base, seeded, all_cases)
        load = Load(sark.base, seeded, all_cases)
        load.start()
        try:
            await load.run_for(3)
            writers = sark.spool_writers()
            load.phase = "during"
            await anyio.to_thread.run_sync(stack.postgres.stop)
            await load.run_for(4)
            load.phase = "after"
            await anyio.to_thread.run_sync(stack.postgres.start)
            await load.run_for(5)
        finally:
            outcomes = await load.stop()
        after = await reference(sark.base, seeded, all_cases)
        report = check_responses(outcomes, merge(before, after))

        # The outage really happened under load, and decisions went on being served.
        assert report.by_phase["during"].total() > 20, report.by_phase
        assert report.by_phase["after"].total() > 20, report.by_phase
        # Nothing on the decision path needs PostgreSQL: no fail-closed deny at all.
        assert not report.failures, [f.body for f in report.failures[:3]]
        log = sark.log_text()
        assert "spooling until the database is back" in log, log[-3000:]

        ids = {o.decision_id for o in outcomes if o.decision_id}
        await wait_audited(stack.postgres.url, ids)
        assert len(writers) == 2, writers  # one spool directory per worker
        exit_code = await anyio.to_thread.run_sync(sark.terminate)
        assert exit_code == 0, sark.log_text()[-3000:]

        events = await stored_events(stack.postgres.url)
        check_audit(events, ids)
        assert check_writer_order(events, writers) == 2
        # The spool was replayed and emptied (the directories go with their writers).
        assert sark.spool_writers() == []
