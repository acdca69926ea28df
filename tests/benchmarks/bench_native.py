"""Benchmark: sark.native (regorus engine, dashmap cache) against its alternatives (not a test).

Measures, on one realistic decision input against a bundle directory:

- native ``PolicyEngine.evaluate`` latency (p50/p99, single thread) and throughput with
  1 and 2 threads;
- the same decision in Rust alone (``cargo run --release --example eval_latency`` in
  packages/sark-native): the compiled plan and regorus's interpreter, without Python;
- the same decision from an OPA server over HTTP (httpx, keep-alive), started here;
- the ``regorus`` and ``regopy`` Python bindings when they install and load the bundle;
- cache get-hit latency: native ``Cache``, ``_fallback.Cache`` and Redis GET on loopback
  (a ``redis-server`` started here);
- memory: RSS growth for 100,000 cached decisions, and RSS after loading the bundle
  once and twice.

    python tests/benchmarks/bench_native.py [--bundle opa] [--iterations 20000]

Prints a Markdown table. Needs sark-native built in release mode
(``maturin develop --release`` in packages/sark-native); httpx, redis and regopy are
used when importable.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RULE = "data.mcp.authz.decision"
CACHE_ENTRIES = 100_000
MIB = 1024 * 1024

# A team lead invoking a high-sensitivity tool on a server of their team, with secrets
# nested in the parameters (docs/policy-input.md): exercises roles, sensitivity, business
# hours in a time zone and parameter redaction with walk.
INPUT: dict[str, Any] = {
    "subject": {
        "id": "u-42",
        "type": "user",
        "role": "team_lead",
        "teams": ["payments", "platform"],
        "attributes": {"department": "engineering"},
        "acting_for": None,
    },
    "action": "tool:invoke",
    "resource": {
        "server": {
            "id": "s-1",
            "name": "postgres-mcp",
            "registered": True,
            "sensitivity_level": "medium",
            "owner": "u-7",
            "team": "payments",
            "tags": ["db", "sql"],
            "status": "active",
        },
        "tool": {
            "name": "run_query",
            "registered": True,
            "sensitivity_level": "high",
            "requires_approval": False,
            "annotations": {"readOnlyHint": False},
        },
    },
    "parameters": {
        "query": "select id, total from orders where created_at > now() - interval '1 day'",
        "Password": "hunter2",
        "options": {"timeout_ms": 2000, "api_key": "k-123", "nested": {"Token": "t-1"}},
    },
    "context": {
        "time": "2026-11-23T10:15:00Z",
        "ip": "10.0.0.5",
        "request_id": "req-7f3a",
        "approval_id": None,
        "gateway": None,
    },
}


def decision_value(i: int) -> dict[str, Any]:
    """A realistic cached decision, distinct per index like real cache entries."""
    return {
        "decision_id": f"d-{i:08d}",
        "allow": True,
        "reason": "allowed_for_own_team",
        "filtered_parameters": {"query": f"select {i}", "options": {"timeout_ms": 2000}},
        "obligations": [{"type": "redacted_parameters", "paths": ["/Password"]}],
        "cache_ttl": 300,
        "policy_revision": "5d515fae0e3a16ed",
        "engine": "native",
    }


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """(p50, p99) in microseconds."""
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 / 1000, p99 / 1000


def time_calls(
    call: Callable[[], object], iterations: int, warmup: int = 500
) -> tuple[float, float]:
    """p50/p99 µs of `call`, timed one by one with perf_counter_ns."""
    for _ in range(warmup):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        call()
        samples.append(clock() - start)
    return percentiles(samples)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start listening on {port}")


@contextlib.contextmanager
def server(argv: list[str], port: int, what: str) -> Iterator[None]:
    """Run a server process for the duration of the block."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, what)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot (Linux /proc/stat)."""
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    fields = [int(v) for v in first_line.split()[1:]]
    return fields[3] + fields[4], sum(fields)


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class Report:
    """Collects Markdown table rows."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, result: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("meets" if met else "misses")
        self.rows.append((what, result, target, verdict))
        print(f"  {what}: {result}", file=sys.stderr)

    def markdown(self) -> str:
        lines = ["| measurement | result | target | verdict |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return "\n".join(lines)


def bench_native_engine(
    report: Report, bundle: Path, iterations: int, timeout_ms: int
) -> tuple[Any, float]:
    from sark.native import PolicyEngine

    # A generous limit: on a shared machine a descheduled thread can exceed 50 ms of
    # wall-clock time, and a timeout would end the measurement, not slow it.
    engine = PolicyEngine(timeout_ms=timeout_ms)
    revision = engine.load_bundle(bundle)
    mode = engine.execution_mode(RULE)
    report.add("bundle revision / execution mode", f"`{revision}` / {mode}")
    decision = engine.evaluate(RULE, INPUT)
    p50, p99 = time_calls(lambda: engine.evaluate(RULE, INPUT), iterations)
    report.add(f"native evaluate p50 ({iterations} calls)", f"{p50:.1f} µs", "≤ 25 µs", p50 <= 25)
    report.add(f"native evaluate p99 ({iterations} calls)", f"{p99:.1f} µs", "≤ 50 µs", p99 <= 50)

    per_thread = max(2000, iterations // 4)

    def run(n: int) -> None:
        for _ in range(n):
            engine.evaluate(RULE, INPUT)

    def throughput(threads: int) -> tuple[float, float, float]:
        """Evaluations per wall-clock second, this process's CPUs in use, machine idle share."""
        workers = [threading.Thread(target=run, args=(per_thread,)) for _ in range(threads)]
        idle_start = cpu_ticks()
        start, cpu_start = time.perf_counter(), time.process_time()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        idle_end = cpu_ticks()
        idle = (idle_end[0] - idle_start[0]) / max(1, idle_end[1] - idle_start[1])
        return threads * per_thread / wall, cpu / wall, idle

    (one, one_cpus, _), (two, two_cpus, two_idle) = throughput(1), throughput(2)
    report.add(
        "native throughput 1 → 2 threads (wall clock)",
        f"{one:,.0f} → {two:,.0f} evals/s (x{two / one:.2f})",
        "≥ x1.7",
        two / one >= 1.7,
    )
    # The wall-clock ratio can only reach 2 when the machine has 2 idle cores: report
    # how many CPUs this process got and how idle the machine was meanwhile.
    report.add(
        "CPUs used by the process, 1 → 2 threads (machine idle during 2 threads)",
        f"{one_cpus:.2f} → {two_cpus:.2f} ({two_idle:.0%} idle)",
    )
    # CPU time per evaluation staying flat from 1 to 2 threads means the threads do not
    # slow each other down (no lock, no shared cache lines), whatever the machine's load.
    report.add(
        "CPU time per evaluation, 1 → 2 threads",
        f"{1e6 * one_cpus / one:.0f} → {1e6 * two_cpus / two:.0f} µs",
    )
    return decision, p99


def bench_rust_alone(report: Report, bundle: Path, iterations: int) -> None:
    """The decision timed inside Rust (sark-native's `eval_latency` example)."""
    if shutil.which("cargo") is None:
        report.add("same decision in Rust alone", "not measured: cargo is not on PATH")
        return
    crate = ROOT / "packages" / "sark-native"
    env = dict(os.environ, PYO3_PYTHON=sys.executable)
    libdir = sysconfig.get_config_var("LIBDIR")
    env["LD_LIBRARY_PATH"] = ":".join(filter(None, [libdir, env.get("LD_LIBRARY_PATH")]))
    argv = ["cargo", "run", "-q", "--release", "--example", "eval_latency", "--"]
    with tempfile.TemporaryDirectory() as scratch:
        input_file = Path(scratch) / "input.json"
        input_file.write_text(json.dumps(INPUT))
        run = subprocess.run(
            [*argv, str(bundle.resolve()), str(input_file), RULE, str(iterations)],
            cwd=crate,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if run.returncode != 0:
        report.add("same decision in Rust alone", f"not measured: {run.stderr.strip()[-200:]}")
        return
    for line in run.stdout.splitlines():
        row = json.loads(line)
        report.add(
            f"same decision in Rust alone, {row['executor']} ({row['mode']}) p50 / p99",
            f"{row['p50_us']:.1f} / {row['p99_us']:.1f} µs",
        )


def bench_opa(
    report: Report, bundle: Path, iterations: int, native_decision: Any, native_p99: float
) -> None:
    opa = shutil.which("opa") or str(Path.home() / "go/bin/opa")
    try:
        import httpx
    except ImportError:
        report.add("OPA over HTTP", "not measured: httpx not installed")
        return
    if not Path(opa).exists():
        report.add("OPA over HTTP", "not measured: opa binary not found")
        return
    port = free_port()
    version = subprocess.run(
        [opa, "version"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    argv = [
        opa,
        "run",
        "--server",
        "--addr",
        f"127.0.0.1:{port}",
        "--log-level",
        "error",
        str(bundle),
    ]
    url = f"http://127.0.0.1:{port}/v1/" + RULE.replace(".", "/")
    with server(argv, port, "opa"), httpx.Client() as client:
        body = {"input": INPUT}
        opa_decision = client.post(url, json=body).json().get("result")
        p50, p99 = time_calls(lambda: client.post(url, json=body).json(), iterations, warmup=200)
    agree = "same decision" if opa_decision == native_decision else "DIFFERENT decision"
    report.add(
        f"OPA {version.split()[-1]} over HTTP p50/p99 ({iterations} calls)",
        f"{p50:.0f} / {p99:.0f} µs ({agree})",
    )
    report.add(
        "native p99 speed-up over OPA-over-HTTP p99",
        f"x{p99 / native_p99:.1f}",
        "≥ x20",
        p99 / native_p99 >= 20,
    )


def bundle_documents(bundle: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Modules and merged data of a bundle, mounted the way OPA's loader does."""
    from sark.native._fallback import bundle_files

    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    for relpath, path in bundle_files(bundle):
        if relpath.endswith(".rego"):
            modules[relpath] = path.read_text()
            continue
        doc: Any = json.loads(path.read_text())
        for part in reversed(relpath.split("/")[:-1]):
            doc = {part: doc}
        merge(data, doc)
    return modules, data


def merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
    for key, value in doc.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            merge(into[key], value)
        else:
            into[key] = value


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence output written straight to file descriptors 1 and 2 (by native code)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with Path(os.devnull).open("wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def error_summary(exc: BaseException) -> str:
    """A one-line summary of a binding's error: its message and first source location."""
    text = str(exc)
    message = re.search(r"errormsg \d+:([^)]*)\)", text) or re.search(r"^(.+)$", text, re.MULTILINE)
    where = re.search(r"[\w./-]+\.rego(:\d+:\d+)?", text)
    summary = message.group(1).strip() if message else type(exc).__name__
    if where:
        summary += f" at {where.group(0)}"
    return summary[:160].replace("|", "/")


def bench_bindings(report: Report, bundle: Path, iterations: int) -> None:
    modules, data = bundle_documents(bundle)
    try:
        import regorus  # type: ignore[import-not-found]
    except ImportError:
        report.add(
            "regorus PyPI binding",
            "not measured: `regorus` is not installable from the package index here",
        )
    else:
        engine = regorus.Engine()
        for name, source in modules.items():
            engine.add_policy(name, source)
        engine.add_data(data)
        engine.set_input(INPUT)
        p50, p99 = time_calls(lambda: engine.eval_rule(RULE), iterations)
        report.add("regorus binding eval_rule p50/p99", f"{p50:.1f} / {p99:.1f} µs")
    try:
        import regopy  # type: ignore[import-untyped]
    except ImportError:
        report.add("regopy", "not measured: not installed")
        return
    try:
        with quiet():  # regopy prints its parse errors itself
            rego = regopy.Interpreter()
            for name, source in modules.items():
                rego.add_module(name, source)
            rego.add_data_json(json.dumps(data))
            rego.set_input(regopy.Input(INPUT))
            rego.query(RULE)
    except Exception as exc:
        version = getattr(regopy, "__version__", "?")
        report.add(
            f"regopy {version}", f"not measured: cannot load the bundle ({error_summary(exc)})"
        )
        return
    p50, p99 = time_calls(lambda: rego.query(RULE), iterations)
    report.add("regopy query p50/p99", f"{p50:.1f} / {p99:.1f} µs")


def bench_caches(report: Report, iterations: int) -> None:
    from sark.native import RUST_AVAILABLE, _fallback

    implementations: list[tuple[str, Any]] = [("fallback (OrderedDict)", _fallback.Cache)]
    if RUST_AVAILABLE:
        from sark.native import _native

        implementations.insert(0, ("native (dashmap)", _native.Cache))
    value = decision_value(1)
    for name, cls in implementations:
        cache = cls(max_size=10_000, ttl_seconds=300)
        key = "subject:u-42|tool:run_query|rev"
        cache.set(key, value)
        p50, p99 = time_calls(functools.partial(cache.get, key), iterations)
        target, met = ("≤ 2 µs", p99 <= 2) if name.startswith("native") else ("", None)
        report.add(f"cache get hit p50/p99, {name}", f"{p50:.2f} / {p99:.2f} µs", target, met)
    if RUST_AVAILABLE:
        bench_sark_l1(report, iterations, value)
    bench_redis(report, iterations // 10, value)


def bench_sark_l1(report: Report, iterations: int, value: dict[str, Any]) -> None:
    """A hit as the decision service sees it: native get plus the MessagePack decode."""
    try:
        import msgspec

        from sark.api.domain.policy.cache import NativeCache
        from sark.api.domain.policy.cache.protocol import CachedDecision
    except ImportError:
        report.add("SARK L1 hit (NativeCache)", "not measured: sark-api not installed")
        return
    from sark.native import _native

    fields = {k: v for k, v in value.items() if k not in {"decision_id", "cache_ttl"}}
    fields["obligations"] = tuple(fields["obligations"])
    cache = NativeCache(_native.Cache, 10_000, 300)
    raw = msgspec.msgpack.encode(CachedDecision(**fields, expires_at=time.time() + 300))
    key = "subject:u-42|tool:run_query|rev"
    cache._cache.set(key, raw, 300)
    decode = msgspec.msgpack.Decoder(CachedDecision).decode
    p50, p99 = time_calls(lambda: decode(cache._cache.get(key)), iterations)
    report.add("SARK L1 hit p50/p99 (NativeCache: native get + MessagePack decode)",
               f"{p50:.2f} / {p99:.2f} µs")  # fmt: skip


def bench_redis(report: Report, iterations: int, value: dict[str, Any]) -> None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    try:
        import redis
    except ImportError:
        report.add("Redis GET", "not measured: redis-py not installed")
        return
    if not Path(binary).exists():
        report.add("Redis GET", "not measured: redis-server not found")
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ]
        with server(argv, port, "redis-server"):
            client = redis.Redis(host="127.0.0.1", port=port)
            client.set("k", json.dumps(value))
            p50, p99 = time_calls(lambda: json.loads(client.get("k")), iterations, warmup=200)  # type: ignore[arg-type]
            client.close()
    report.add(
        f"Redis GET + json.loads on loopback p50/p99 ({iterations} calls)",
        f"{p50:.1f} / {p99:.1f} µs",
    )


def child_memory(kind: str, bundle: Path) -> dict[str, int]:
    """Measure RSS in a fresh interpreter so earlier allocations do not blur it."""
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bench_native import decision_value, rss_bytes, CACHE_ENTRIES
out = {{}}
if {kind!r} == "bundle":
    from sark.native import PolicyEngine
    engine = PolicyEngine(timeout_ms=10_000)
    out["before"] = rss_bytes()
    engine.load_bundle({str(bundle)!r}); engine.evaluate({RULE!r}, {{}})
    out["once"] = rss_bytes()
    engine.load_bundle({str(bundle)!r}); engine.evaluate({RULE!r}, {{}})
    out["twice"] = rss_bytes()
    for _ in range(10):
        engine.load_bundle({str(bundle)!r}); engine.evaluate({RULE!r}, {{}})
    out["twelve"] = rss_bytes()
else:
    import hashlib
    from sark.native import _fallback

    def key(i):
        return hashlib.sha256(str(i).encode()).hexdigest()  # as policy/keys.py makes them

    if {kind!r} == "sark":
        # As the decision service stores them: NativeCache keeps MessagePack bytes.
        import asyncio, time
        from sark.api.domain.policy.cache import NativeCache
        from sark.api.domain.policy.cache.protocol import CachedDecision
        from sark.native import _native
        cache = NativeCache(_native.Cache, CACHE_ENTRIES, 300)
        out["before"] = rss_bytes()

        async def fill():
            for i in range(CACHE_ENTRIES):
                value = decision_value(i)
                del value["decision_id"], value["cache_ttl"]
                value["obligations"] = tuple(value["obligations"])
                await cache.set(key(i), CachedDecision(**value, expires_at=time.time() + 300), 300)

        asyncio.run(fill())
        size = cache.stats()["size"]
    else:
        cls = _fallback.Cache
        if {kind!r} == "native":
            from sark.native import _native
            cls = _native.Cache
        cache = cls(max_size=CACHE_ENTRIES, ttl_seconds=300)
        out["before"] = rss_bytes()
        for i in range(CACHE_ENTRIES):
            cache.set(key(i), decision_value(i))
        size = len(cache)
    out["cache"] = rss_bytes()
    out["size"] = size
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


def bench_memory(report: Report, bundle: Path) -> None:
    from sark.native import RUST_AVAILABLE

    kinds = {
        "sark": "SARK's native L1 (NativeCache: CachedDecision as MessagePack bytes)",
        "native": "sark.native.Cache holding the decisions as Python dicts",
        "fallback": "_fallback.Cache (OrderedDict) holding Python dicts",
    }
    try:
        import sark.api  # noqa: F401
    except ImportError:
        del kinds["sark"]
    if not RUST_AVAILABLE:
        kinds = {"fallback": kinds["fallback"]}
    for kind, what in kinds.items():
        sample = child_memory(kind, bundle)
        assert sample["size"] == CACHE_ENTRIES, sample
        # Growth from the empty cache to 100,000 entries: what caching them costs.
        growth = (sample["cache"] - sample["before"]) / MIB
        total = sample["cache"] / MIB
        report.add(
            f"RSS growth for {CACHE_ENTRIES:,} cached decisions: {what}",
            f"{growth:.1f} MiB (process total {total:.1f} MiB)",
            "≤ 64 MiB" if kind == "sark" else "",
            growth <= 64 if kind == "sark" else None,
        )
    if RUST_AVAILABLE:
        sample = child_memory("bundle", bundle)
        report.add(
            "RSS after loading the bundle once / twice / 12 times",
            " / ".join(f"{sample[k] / MIB:.1f} MiB" for k in ("once", "twice", "twelve"))
            + f" (before: {sample['before'] / MIB:.1f} MiB)",
        )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    load = os.getloadavg()[0]
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {model}, Python {python}, load average {load:.1f} at start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bundle", type=Path, default=ROOT / "opa", help="bundle directory (default: repo opa/)"
    )
    parser.add_argument(
        "--iterations", type=int, default=20_000, help="native evaluations timed (≥ 20000)"
    )
    parser.add_argument(
        "--timeout-ms", type=int, default=1000, help="engine time limit while timing"
    )
    parser.add_argument(
        "--http-iterations", type=int, default=2_000, help="OPA/binding calls timed"
    )
    parser.add_argument("--cache-iterations", type=int, default=100_000, help="cache lookups timed")
    args = parser.parse_args()

    from sark.native import RUST_AVAILABLE

    if not RUST_AVAILABLE:
        raise SystemExit(
            "sark.native._native is not in use: build it with `maturin develop --release`"
        )
    from sark.native import _native

    report = Report()
    print(f"machine: {machine()}", file=sys.stderr)
    report.add("regorus version", _native.REGORUS_VERSION)
    decision, native_p99 = bench_native_engine(
        report, args.bundle, args.iterations, args.timeout_ms
    )
    bench_rust_alone(report, args.bundle, args.iterations)
    bench_opa(report, args.bundle, args.http_iterations, decision, native_p99)
    bench_bindings(report, args.bundle, args.http_iterations)
    bench_caches(report, args.cache_iterations)
    bench_memory(report, args.bundle)
    print(f"Machine: {machine()}\n")
    print(report.markdown())


if __name__ == "__main__":
    main()
