"""Benchmark: ``POST /api/v1/policy/evaluate`` over HTTP with wrk (not a test).

Starts ``sark serve --workers 2`` (SQLite, logs at warning, no access log) against an OPA
server (and, when sark-native is installed, again on the native engine), seeds a server
with tools and a developer through the API, then drives the evaluate endpoint with
``wrk`` at 32 connections, cache on and cache off (``SARK_DECISION_CACHE_ENABLED``).

    uv run python tests/benchmarks/bench_evaluate.py [--duration 20] [--connections 32]

Prints one Markdown table row per configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tests.benchmarks import _wrk  # noqa: E402
from tests.support.processes import SARK, answers, process_group  # noqa: E402
from tests.support.processes import http_json as http  # noqa: E402
from tests.support.services import free_port, opa_binary, wait_for  # noqa: E402

from sark.api.domain.catalog.facts import DEFAULT_REFRESH_INTERVAL  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench-user-password"


@contextlib.contextmanager
def sark_server(home: Path, opa_url: str | None, cache: bool) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "SARK_HOME": str(home),
        "SARK_PORT": str(port),
        "SARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SARK_LOG_LEVEL": "warning",
        "SARK_LOG_ACCESS": "false",
        "SARK_DECISION_CACHE_ENABLED": "true" if cache else "false",
        "SARK_RATE_LIMIT_USER_PER_MINUTE": "0",
    }
    env.pop("SARK_OPA_URL", None)
    if opa_url:
        env["SARK_OPA_URL"] = opa_url
    with process_group([SARK, "serve", "--workers", "2"], env=env, stop_timeout=15):
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{base}/health/ready"), "sark", 60)
        yield base


def seed(base: str) -> str:
    admin = http("POST", f"{base}/api/v1/auth/login",
                 {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]  # fmt: skip
    with contextlib.suppress(urllib.error.HTTPError):
        http("POST", f"{base}/api/v1/teams", {"name": "payments"}, admin)
        http("POST", f"{base}/api/v1/servers", {
            "name": "payments-db", "transport": "http", "endpoint": "http://127.0.0.1:9/mcp",
            "sensitivity_level": "medium", "team": "payments",
            "tools": [{"name": "query", "description": "run a query", "input_schema": {},
                       "sensitivity_level": "medium"},
                      {"name": "lookup", "description": "look up", "input_schema": {},
                       "sensitivity_level": "low"}],
        }, admin)  # fmt: skip
        http("POST", f"{base}/api/v1/users", {"username": "dev", "password": USER_PASSWORD,
                                              "role": "developer", "teams": ["payments"]},
             admin)  # fmt: skip
    token: str = http("POST", f"{base}/api/v1/auth/login",
                      {"username": "dev", "password": USER_PASSWORD})["access_token"]  # fmt: skip
    # The other worker sees the new catalog within its documented refresh interval.
    time.sleep(DEFAULT_REFRESH_INTERVAL + 0.5)
    return token


def wrk(base: str, token: str, duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    body = json.dumps({"action": "tool:invoke", "server": "payments-db", "tool": "query",
                       "parameters": {"sql": "select 1", "limit": 10}})  # fmt: skip
    probe = http("POST", f"{base}/api/v1/policy/evaluate", json.loads(body), token)
    assert probe["allow"] is True, probe
    script = workdir / "evaluate.lua"
    script.write_text(_wrk.static_script(token, body))
    result = _wrk.run(f"{base}/api/v1/policy/evaluate", script, duration=duration,
                      connections=connections)  # fmt: skip
    return {"rps": result.rps, "p50": _wrk.ms(result.p50_ms), "p99": _wrk.ms(result.p99_ms),
            "non_2xx": result.non_2xx, "engine": probe["engine"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    try:
        import sark.native

        native = bool(sark.native.RUST_AVAILABLE)
    except ImportError:
        native = False
    configs = [("opa", True), ("opa", False)]
    if native:
        configs += [("native", True), ("native", False)]
    rows = []
    opa_port = free_port()
    opa_url = f"http://127.0.0.1:{opa_port}"
    opa = opa_binary()
    if opa is None:
        raise SystemExit("opa binary not found (go install it, see .ci/run)")
    with process_group([opa, "run", "--server", "--addr", f"127.0.0.1:{opa_port}",
                        "--log-level", "error"], stop_timeout=15):  # fmt: skip
        wait_for(lambda: answers(f"{opa_url}/health"), "opa", 60)
        for engine, cache in configs:
            with (
                tempfile.TemporaryDirectory(prefix="sark-bench-") as tmp,
                sark_server(
                    Path(tmp) / "home", opa_url if engine == "opa" else None, cache
                ) as base,
            ):
                token = seed(base)
                result = wrk(base, token, args.duration, args.connections, Path(tmp))
            rows.append((engine, cache, result))
            state = "on" if cache else "off"
            print(f"| {result['engine']} | {state} | {result['rps']:.0f} | {result['p50']} | "
                  f"{result['p99']} | {result['non_2xx']} |", flush=True)  # fmt: skip
    if not native:
        print("(native engine not measured: sark-native is not installed)")


if __name__ == "__main__":
    main()
