"""Benchmark of the gateway plugin over HTTP with wrk (not a test).

Three measurements, all with granian (2 workers), SQLite, the native engine when
sark-native is importable (else OPA), logs at warning, no access log, rate limits off:

1. ``POST /api/v1/gateway/authorize`` (gateway enabled): a developer invoking a ``low``
   tool (allowed, decision cacheable), 32 connections;
2. AuthZEN ``POST /access/v1/evaluations`` with 100 items per call (one subject, 100
   tools on one server), 32 connections: decisions/s = requests/s x 100;
3. a 1.0 endpoint (``POST /api/v1/policy/evaluate``) with the gateway installed but
   disabled vs not installed, alternating A/B/B/A... in the same run.

    PYTHONPATH=packages/sark-native/python uv run python tests/benchmarks/bench_gateway.py

Prints Markdown table rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar import Litestar

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tests.benchmarks import _wrk  # noqa: E402
from tests.support.processes import SARK, answers, process_group  # noqa: E402
from tests.support.processes import http_json as http  # noqa: E402
from tests.support.services import free_port, wait_for  # noqa: E402

from sark.api.domain.catalog.facts import DEFAULT_REFRESH_INTERVAL  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench-user-password"


# --------------------------------------------------------------------------- app factories


def _app(plugins: dict[str, Any] | None) -> Litestar:
    from sark.api.asgi import build

    return build(plugins)


def app_installed() -> Litestar:
    """The app with the gateway plugin installed (enabled or not by the environment)."""
    from sark.gateway import plugin_factory

    return _app({"gateway": plugin_factory})


def app_absent() -> Litestar:
    """The 1.0 app: no plugin at all."""
    return _app({})


# --------------------------------------------------------------------------- harness


@contextlib.contextmanager
def server(home: Path, target: str, env_extra: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "packages/sark-native/python"), os.environ.get("PYTHONPATH", "")]
        ),
        "SARK_HOME": str(home),
        "SARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SARK_LOG_LEVEL": "warning",
        "SARK_LOG_ACCESS": "false",
        "SARK_RATE_LIMIT_USER_PER_MINUTE": "0",
        "SARK_RATE_LIMIT_API_KEY_PER_MINUTE": "0",
        "GATEWAY_SYNC_INTERVAL_SECONDS": "0",
        **env_extra,
    }
    bindir = Path(SARK).parent
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([SARK, "db", "upgrade"], env=env, check=True, capture_output=True)
    command = [str(bindir / "granian"), "--interface", "asgi", "--factory", "--workers", "2",
               "--host", "127.0.0.1", "--port", str(port), "--no-ws", "--respawn-failed-workers",
               target]  # fmt: skip
    with process_group(command, env=env, cwd=ROOT, stop_timeout=15):
        health = f"http://127.0.0.1:{port}/health"
        wait_for(lambda: answers(health), "sark", 90)
        time.sleep(8)  # let the second worker finish its start-up too
        wait_for(lambda: answers(health), "sark", 90)
        yield f"http://127.0.0.1:{port}"


def seed(base: str, tools: int = 100) -> dict[str, str]:
    admin = http("POST", f"{base}/api/v1/auth/login",
                 {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]  # fmt: skip
    http("POST", f"{base}/api/v1/teams", {"name": "payments"}, admin)
    http("POST", f"{base}/api/v1/servers", {
        "name": "payments-db", "transport": "http", "endpoint": "http://127.0.0.1:9/mcp",
        "sensitivity_level": "medium", "team": "payments",
        "tools": [{"name": f"tool_{i:03d}", "sensitivity_level": "low" if i % 2 else "medium"}
                  for i in range(tools)],
    }, admin)  # fmt: skip
    http("POST", f"{base}/api/v1/users", {"username": "dev", "password": USER_PASSWORD,
                                          "role": "developer", "teams": ["payments"]},
         admin)  # fmt: skip
    dev = http("POST", f"{base}/api/v1/auth/login",
               {"username": "dev", "password": USER_PASSWORD})["access_token"]  # fmt: skip
    key = ""
    with contextlib.suppress(urllib.error.HTTPError):
        key = http("POST", f"{base}/api/v1/api-keys", {"name": "pep", "scopes": ["gateway"]},
                   admin)["key"]  # fmt: skip
    # The other worker sees the new catalog within its documented refresh interval.
    time.sleep(DEFAULT_REFRESH_INTERVAL + 0.5)
    return {"admin": admin, "dev": dev, "pep": key}


def wrk(  # noqa: PLR0917 - one call site, positional reads best
    url: str, token: str, body: Any, duration: int, connections: int, workdir: Path
) -> dict[str, Any]:
    script = workdir / "bench.lua"
    script.write_text(_wrk.static_script(token, json.dumps(body)))
    result = _wrk.run(url, script, duration=duration, connections=connections)
    return {"rps": result.rps, "p50": _wrk.ms(result.p50_ms), "p90": _wrk.ms(result.p90_ms),
            "p95": _wrk.ms(result.p95_ms), "p99": _wrk.ms(result.p99_ms),
            "non_2xx": result.non_2xx}  # fmt: skip


def audit_counts(home: Path) -> tuple[int, int]:
    """(rows in ``audit_events``, events waiting in the spool) of the server at ``home``.

    Read from the database and the spool files themselves: the benchmark runs granian
    without ``sark serve``'s multiprocess metrics, so /metrics shows one worker only.
    """
    with contextlib.closing(sqlite3.connect(home / "sark.db", timeout=30)) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM audit_events").fetchone()
    spooled = 0
    for path in home.rglob("*.jsonl"):
        with contextlib.suppress(FileNotFoundError):  # replayed and deleted meanwhile
            spooled += len(path.read_bytes().splitlines())
    return int(rows), spooled


def audit_note(home: Path, before: tuple[int, int], answered: float) -> str:
    """The trail at the end of a run: in the database, in the spool, of ``answered``."""
    rows, spooled = audit_counts(home)
    return (f"audit at the end: {rows - before[0]:,} rows written, {spooled:,} in the spool, "
            f"of ~{answered:,.0f} decisions")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ab-rounds", type=int, default=3)
    args = parser.parse_args()
    enabled = {"GATEWAY_ENABLED": "true"}
    module = "tests.benchmarks.bench_gateway"
    with tempfile.TemporaryDirectory(prefix="sark-bench-gw-") as tmp:
        work = Path(tmp)
        home = work / "enabled"
        with server(home, f"{module}:app_installed", enabled) as base:
            tokens = seed(base)
            body = {"action": "gateway:tool:invoke", "server_name": "payments-db",
                    "tool_name": "tool_001",
                    "parameters": {"sql": "select 1", "limit": 10}}  # fmt: skip
            probe = http("POST", f"{base}/api/v1/gateway/authorize", body, tokens["dev"])
            assert probe["allow"] is True, probe
            engine = http("POST", f"{base}/api/v1/policy/evaluate",
                          {"action": "tool:invoke", "server": "payments-db", "tool": "tool_001"},
                          tokens["dev"])["engine"]  # fmt: skip
            before = audit_counts(home)
            result = wrk(f"{base}/api/v1/gateway/authorize", tokens["dev"], body, args.duration,
                         args.connections, work)  # fmt: skip
            print(f"| authorize | {engine} | {result['rps']:.0f} req/s | p50 {result['p50']} | "
                  f"p90 {result['p90']} | p95 {result['p95']} | p99 {result['p99']} | "
                  f"non-2xx {result['non_2xx']} | "
                  f"{audit_note(home, before, result['rps'] * args.duration)} |",
                  flush=True)  # fmt: skip
            evaluations = {
                "subject": {"type": "identity", "id": "dev"}, "action": {"name": "tools/call"},
                "evaluations": [{"resource": {"type": "tool", "id": f"tool_{i:03d}",
                                              "properties": {"server": "payments-db"}}}
                                for i in range(100)],
            }  # fmt: skip
            answer = http("POST", f"{base}/access/v1/evaluations", evaluations, tokens["pep"])
            assert len(answer["evaluations"]) == 100, answer
            assert sum(e["decision"] for e in answer["evaluations"]) == 100, answer
            before = audit_counts(home)
            batch = wrk(f"{base}/access/v1/evaluations", tokens["pep"], evaluations,
                        args.duration, args.connections, work)  # fmt: skip
            print(f"| authzen evaluations x100 | {engine} | {batch['rps']:.1f} req/s = "
                  f"{batch['rps'] * 100:.0f} decisions/s | p50 {batch['p50']} | p90 {batch['p90']} "
                  f"| p95 {batch['p95']} | p99 {batch['p99']} | non-2xx {batch['non_2xx']} | "
                  f"{audit_note(home, before, batch['rps'] * 100 * args.duration)} |",
                  flush=True)  # fmt: skip
        evaluate = {"action": "tool:invoke", "server": "payments-db", "tool": "tool_001",
                    "parameters": {"sql": "select 1"}}  # fmt: skip
        runs: dict[str, list[float]] = {"disabled": [], "absent": []}
        pair = (("disabled", "app_installed"), ("absent", "app_absent"))
        for round_ in range(args.ab_rounds):
            # ABBA: each variant goes first in every other round (no order effect)
            for label, target in pair if round_ % 2 == 0 else pair[::-1]:
                home = work / f"{label}-{round_}"
                with server(home, f"{module}:{target}", {}) as base:
                    tokens = seed(base, tools=4)
                    result = wrk(f"{base}/api/v1/policy/evaluate", tokens["dev"], evaluate,
                                 args.duration, args.connections, work)  # fmt: skip
                runs[label].append(result["rps"])
                print(f"| 1.0 evaluate, gateway {label} (round {round_ + 1}) | {result['rps']:.0f} "
                      f"req/s | p50 {result['p50']} | p99 {result['p99']} | non-2xx "
                      f"{result['non_2xx']} |", flush=True)  # fmt: skip
        if not args.ab_rounds:
            return
        disabled, absent = statistics.median(runs["disabled"]), statistics.median(runs["absent"])
        print(
            f"| median | installed-but-disabled {disabled:.0f} req/s | not installed "
            f"{absent:.0f} req/s | difference {100 * (disabled - absent) / absent:+.1f} % |"
        )


if __name__ == "__main__":
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    main()
