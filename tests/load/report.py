"""Markdown tables of a load run, written into ``docs/performance.md`` (its own section).

The section ``## Load and soak`` holds one block per backend between
``<!-- load:<backend>:begin -->`` and ``<!-- load:<backend>:end -->``; a run replaces the
block of its backend only, so the SQLite and PostgreSQL results can be produced apart.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks._wrk import WrkResult, ms
from tests.load.reconcile import Tally
from tests.load.workload import BY_NAME, ENDPOINTS, Phase

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
SECTION = "## Load and soak"
INTRO = """\
## Load and soak

`tests/load` starts SARK (`sark serve --workers 2`, gateway plugin enabled, native engine,
decision cache on, default rate limits, `SARK_LOG_LEVEL=warning`, no access log) on SQLite,
or on PostgreSQL + Redis (private servers started from PATH, or the servers of
`SARK_TEST_DATABASE_URL` / `SARK_TEST_REDIS_URL`). It seeds, in bulk through SARK's own
models (an HTTP sample is timed for comparison), 60 teams, 1,200 users with roles (leads,
developers, viewers, admins ...), 240 servers with 25 tools each of mixed sensitivity
(declared or derived by SARK's rules), 60 API keys (PEP keys with the `gateway` scope,
catalog and audit readers) and one login session per user, whose access token is signed
as `POST /api/v1/auth/login` would. Then five endpoint classes run at once, one `wrk` per
class (one thread each), requests picked at random from a pool and each tagged with a unique
`X-Request-ID`: gateway authorize and 1.0 policy evaluate (users mostly calling tools of
their own teams' servers), AuthZEN batches of 100 items asked by PEP keys, catalog reads
(server list with filters, server get, tool list) and audit queries with filters.

- `run` measures the peak: fixed connections per class, as fast as the server answers.
- `soak` measures the peak, then holds 80 % of each class's peak rate (a fixed rate through
  wrk's Lua `delay()`) for a warm-up and the soak, one wrk run per interval, sampling the
  RSS of the worker processes and the audit queue (`sark_audit_queue_depth`).
- Both finally wait for the audit writer and match audit rows to the decisions the client
  was answered, per request id (1 row per authorize or evaluate, 100 per AuthZEN batch):
  none missing, none duplicated. Rows of requests still in flight when a wrk run stopped
  (served and audited, but never seen answered) are listed apart.

Checks of `soak` (the command exits 1 when one fails): zero errors (non-2xx, socket errors,
timeouts), p99 of the last interval within 20 % of the first for every class, worker RSS
growth under 10 % from the end of the warm-up, audit rows == decisions served.

    uv run python -m tests.load run  --backend sqlite|postgres|both [--peak-seconds 30]
    uv run python -m tests.load soak --backend sqlite|postgres|both [--soak-seconds 300]
                                     [--interval 60] [--warmup 30] [--peak-seconds 30]

`soak --backend both` with the defaults is the full 5-minute soak on each backend (about
25 minutes in all). Each run replaces its backend's block below. Latencies are wrk's (from
the moment a request is written, no coordinated-omission correction); wrk's p95 is shown.
"""


@dataclass
class Run:
    """Everything one backend's run measured."""

    backend: str
    command: str
    seed_counts: dict[str, int]
    seed_seconds: float
    http_seed: dict[str, float]
    peak: Phase
    load_before: float
    engine: str = "?"
    """Engine of the probe decision (``native`` expected: no OPA is configured)."""
    load_after: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)
    warmup: Phase | None = None
    intervals: list[Phase] = field(default_factory=list)
    rss: list[tuple[str, float]] = field(default_factory=list)
    """(label, MiB) at the end of the warm-up and of every interval."""
    backlog: dict[str, float | None] = field(default_factory=dict)
    """Audit events queued in the workers at the end of the warm-up and of every interval."""
    tallies: list[Tally] = field(default_factory=list)
    fail_closed: dict[str, int] = field(default_factory=dict)
    log_problems: dict[str, int] = field(default_factory=dict)
    """Warnings and errors in the server's log, by message."""
    """Decisions of the workload denied without an engine's answer, by reason."""
    verdicts: list[tuple[str, bool, str]] = field(default_factory=list)


def machine() -> str:
    """``2 cores, <model>``."""
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"Model name:\s+(.+)", out)
        model = found.group(1).strip() if found else model
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{os.cpu_count()} cores, {model}"


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def _row(name: str, result: WrkResult, connections: str) -> str:
    per = BY_NAME[name].decisions_per_request
    decisions = f"{result.rps * per:,.0f}" if per else "-"
    return (
        f"| {name} | {connections} | {result.rps:,.1f} | {decisions} | {ms(result.p50_ms)} | "
        f"{ms(result.p95_ms)} | {ms(result.p99_ms)} | {ms(result.max_ms)} | {result.non_2xx} | "
        f"{result.socket_errors + result.timeouts} |"
    )


def _phase_table(phase: Phase, rates: dict[str, float] | None) -> list[str]:
    head = "target req/s" if rates else "connections"
    lines = [
        f"| endpoint | {head} | req/s | decisions/s | p50 | p95 | p99 | max | non-2xx | "
        "socket errors + timeouts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for endpoint in ENDPOINTS:
        result = phase.results[endpoint.name]
        column = f"{rates[endpoint.name]:,.1f}" if rates else str(endpoint.connections)
        lines.append(_row(endpoint.name, result, column))
    return lines


def _merged(phases: list[Phase], name: str) -> tuple[float, int, int, float]:
    """(req/s, requests, errors, worst p99) of ``name`` over several phases."""
    results = [p.results[name] for p in phases]
    requests = sum(r.requests for r in results)
    seconds = sum(r.duration_s for r in results)
    return (requests / seconds if seconds else 0.0, requests, sum(r.errors for r in results),
            max(r.p99_ms for r in results))  # fmt: skip


def _backlog(run: Run, label: str) -> str:
    value = run.backlog.get(label)
    return "-" if value is None else f"{value:,.0f}"


def _quietness(run: Run) -> str:
    cores = os.cpu_count() or 1
    # At the end the load average includes the harness itself (SARK and five wrk): only the
    # figure at start says whether others were using the machine.
    if run.load_before < 0.5 * cores:
        return "quiet machine"
    return "**loaded machine** (shared with other jobs, figures pessimistic and noisy)"


def render(run: Run) -> str:
    """The backend's block."""
    title = "SQLite" if run.backend == "sqlite" else "PostgreSQL + Redis"
    out = [
        f"### {title}",
        "",
        f"    {run.command}",
        "",
        f"Machine: {machine()}, {_quietness(run)}: load average {run.load_before:.1f} at start, "
        f"{run.load_after:.1f} at end. Policy engine: `{run.engine}`.",
        "",
        "Seed (bulk, through SARK's models): "
        + ", ".join(f"{v:,} {k}" for k, v in run.seed_counts.items())
        + f" in {run.seed_seconds:.1f} s.",
    ]
    if run.http_seed:
        h = run.http_seed
        out.append(
            f"The same through the HTTP API (measured on a sample): {h['servers_per_s']:.1f} "
            f"servers/s with {h['tools_per_server']:.0f} tools each, {h['users_per_s']:.1f} "
            f"users/s, so about {h['estimate_s']:.0f} s for this population."
        )
    out += ["", f"**Peak** ({run.peak.results['evaluate'].duration_s:.0f} s, all classes at "
            "once, fixed connections):", ""]  # fmt: skip
    out += _phase_table(run.peak, None)
    if run.intervals:
        out += [
            "",
            f"**Soak** at 80 % of each class's peak: {len(run.intervals)} intervals of "
            f"{run.intervals[0].results['evaluate'].duration_s:.0f} s after a warm-up.",
            "",
        ]
        out += [
            "| endpoint | target req/s | achieved req/s | requests | errors | p99 first "
            "interval | p99 last interval | worst p99 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for endpoint in ENDPOINTS:
            rps, requests, errors, worst = _merged(run.intervals, endpoint.name)
            first = run.intervals[0].results[endpoint.name].p99_ms
            last = run.intervals[-1].results[endpoint.name].p99_ms
            out.append(
                f"| {endpoint.name} | {run.rates[endpoint.name]:,.1f} | {rps:,.1f} | "
                f"{requests:,} | {errors} | {ms(first)} | {ms(last)} | {ms(worst)} |"
            )
        out += ["", "p99 per interval, RSS of the two workers (sum) and audit events queued in "
                "them (not yet written) at the interval's end:", ""]  # fmt: skip
        names = [e.name for e in ENDPOINTS]
        out.append("| interval | " + " | ".join(names) + " | errors | workers RSS | audit queue |")
        out.append("|---" * (len(names) + 4) + "|")
        rss = dict(run.rss)
        if run.warmup is not None:
            out.append("| warm-up | " + " | ".join(
                ms(run.warmup.results[n].p99_ms) for n in names) + " | "
                + str(sum(r.errors for r in run.warmup.results.values()))
                + f" | {rss.get('warm-up', 0):.1f} MiB | {_backlog(run, 'warm-up')} |")  # fmt: skip
        for phase in run.intervals:
            errors = sum(r.errors for r in phase.results.values())
            out.append(
                f"| {phase.label} | "
                + " | ".join(ms(phase.results[n].p99_ms) for n in names)
                + f" | {errors} | {rss.get(phase.label, 0):.1f} MiB | "
                + f"{_backlog(run, phase.label)} |"
            )
    if run.tallies:
        out += ["", "Audit rows against decisions served (matched per request id after the "
                "writer flushed; every run of this backend):", "",
                "| endpoint | 2xx answers | decisions | audit rows | missing | duplicated | "
                "rows of requests in flight at a run's end |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
        for t in run.tallies:
            out.append(
                f"| {t.endpoint} | {t.answered:,} | {t.decisions:,} | {t.rows_matched:,} | "
                f"{t.missing} | {t.duplicated} | {t.unanswered_rows} |"
            )
    if run.tallies:
        denies = ", ".join(f"{n:,} `{reason}`" for reason, n in sorted(run.fail_closed.items()))
        out += ["", "Fail-closed denies among these decisions (no engine answered: time limit, "
                f"engine error ...): {denies or 'none'}."]  # fmt: skip
    problems = sorted(run.log_problems.items(), key=lambda item: -item[1])
    listed = "; ".join(f"{n:,} x {message.replace('|', '/')}" for message, n in problems[:8])
    out += ["", f"Server log (warning level): {listed or 'no warning or error'}."]
    if run.verdicts:
        out += ["", "| check | result | measured |", "|---|---|---|"]
        out += [f"| {name} | {'meets' if ok else '**fails**'} | {detail} |"
                for name, ok, detail in run.verdicts]  # fmt: skip
    return "\n".join(out) + "\n"


def write(run: Run, doc: Path = DOC) -> None:
    """Replace this backend's block of the load section (creating the section if needed)."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    begin, end = f"<!-- load:{run.backend}:begin -->", f"<!-- load:{run.backend}:end -->"
    block = f"{begin}\n{render(run)}{end}\n"
    if SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + INTRO + "\n"
    else:
        # Keep the introduction in step with the harness: it runs up to the first block.
        at = text.index(SECTION)
        blocks = text.find("<!-- load:", at)
        following = re.search(r"^## ", text[at + len(SECTION) :], re.MULTILINE)
        stop = at + len(SECTION) + following.start() if following else len(text)
        if blocks != -1 and blocks < stop:
            stop = blocks
        text = text[:at] + INTRO + "\n" + text[stop:]
    if begin in text and end in text:
        start, stop = text.index(begin), text.index(end) + len(end) + 1
        text = text[:start] + block + text[stop:]
    else:
        # Blocks live at the end of the load section: before the next "## " heading, if any.
        at = text.index(SECTION) + len(SECTION)
        following = re.search(r"^## ", text[at:], re.MULTILINE)
        insert = at + following.start() if following else len(text)
        text = text[:insert].rstrip("\n") + "\n\n" + block + "\n" + text[insert:]
    doc.write_text(text.rstrip("\n") + "\n")
