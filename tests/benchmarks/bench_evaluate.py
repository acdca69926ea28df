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
import shutil
import signal
import socket
import subprocess
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

ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench-user-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def wait_ready(url: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not become ready")


def opa_binary() -> str:
    found = shutil.which("opa") or str(Path.home() / "go" / "bin" / "opa")
    if not Path(found).exists():
        raise SystemExit("opa binary not found")
    return found


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


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
    with process([str(Path(sys.executable).parent / "sark"), "serve", "--workers", "2"], env):
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/health/ready", "sark")
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
    with process([opa_binary(), "run", "--server", "--addr", f"127.0.0.1:{opa_port}",
                  "--log-level", "error"]):  # fmt: skip
        wait_ready(f"{opa_url}/health", "opa")
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
