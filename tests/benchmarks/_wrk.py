"""The wrk runner shared by the HTTP benchmarks and the load harness (``tests/load``).

Every script run through here ends with :data:`REPORT_LUA`: wrk's ``done()`` prints one
``WRKJSON {...}`` line with the request count, socket errors, non-2xx count, latency
percentiles (p50/p90/p95/p99/max, microseconds) and, when the script counts them in
``response()`` into a global ``statuses`` table, the responses by status code.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

STATIC_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '%s'
"""
"""The same JSON POST on every request (``static_script`` fills token and body)."""

REPORT_LUA = r"""
-- Report (tests/benchmarks/_wrk.py): one machine-readable line with everything measured.
local _report_threads = {}
local _report_setup = setup
function setup(thread)
  table.insert(_report_threads, thread)
  if _report_setup then _report_setup(thread) end
end

function done(summary, latency, requests)
  local statuses = {}
  for _, t in ipairs(_report_threads) do
    local counted = t:get("statuses")
    if type(counted) == "table" then
      for code, n in pairs(counted) do statuses[code] = (statuses[code] or 0) + n end
    end
  end
  local parts = {}
  for code, n in pairs(statuses) do
    table.insert(parts, string.format('"%s":%d', tostring(code), n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p95":%d,"p99":%d,' ..
    '"max":%d,"mean":%.1f},"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, table.concat(parts, ",")))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured (latencies in milliseconds)."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    socket_errors: int
    """Connect, read and write errors (timeouts are counted apart: the reply still came)."""
    timeouts: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        """Every failed request: non-2xx answers, socket errors and timeouts."""
        return self.non_2xx + self.socket_errors + self.timeouts

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx status."""
        return self.requests - self.non_2xx


def static_script(token: str, body: str) -> str:
    """A script POSTing ``body`` with ``token`` on every request, with the report."""
    return STATIC_LUA % (token, body) + REPORT_LUA


def parse(output: str) -> WrkResult:
    """The result in wrk's output (the ``WRKJSON`` line of :data:`REPORT_LUA`)."""
    match = re.search(r"^WRKJSON (\{.*\})$", output, re.MULTILINE)
    if match is None:
        msg = f"wrk printed no report line (is REPORT_LUA in the script?):\n{output}"
        raise ValueError(msg)
    data: dict[str, Any] = json.loads(match.group(1))
    errors, latency = data["errors"], data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p95_ms=latency["p95"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        mean_ms=latency["mean"] / 1000,
        non_2xx=int(errors["status"]),
        socket_errors=int(errors["connect"]) + int(errors["read"]) + int(errors["write"]),
        timeouts=int(errors["timeout"]),
        statuses={str(k): int(v) for k, v in data.get("statuses", {}).items()},
    )


class WrkOptions(TypedDict, total=False):
    """How wrk drives a URL: for how long, over how many connections and threads."""

    duration: Required[float]
    connections: Required[int]
    threads: int
    timeout: float


def start(url: str, script: Path, **options: Unpack[WrkOptions]) -> subprocess.Popen[str]:
    """Start wrk in the background (several endpoints are driven at once)."""
    connections = options["connections"]
    threads = max(1, min(options.get("threads", 2), connections))
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{options['duration']:g}s",
        f"--timeout={options.get('timeout', 10.0):g}s", "-s", str(script), url,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> WrkResult:
    """Wait for a wrk started by :func:`start` and parse its report."""
    out, err = process.communicate()
    if process.returncode != 0:
        msg = f"wrk failed ({process.returncode}): {err.strip()}\n{out}"
        raise RuntimeError(msg)
    return parse(out)


def run(url: str, script: Path, **options: Unpack[WrkOptions]) -> WrkResult:
    """Run wrk in the foreground and return what it measured."""
    return finish(start(url, script, **options))


def ms(value: float) -> str:
    """A latency for a table: ``12.34 ms``, or seconds above 10 s."""
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.2f} ms"
