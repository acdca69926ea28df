"""Load and soak harness: ``uv run python -m tests.load run|soak --backend sqlite|postgres|both``.

See the "Load and soak" section of docs/performance.md (written by this command).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sark.core.settings import Settings
from tests.load import report, server
from tests.load.reconcile import fail_closed, reconcile, wait_flushed
from tests.load.report import Run
from tests.load.seed import Scale, World, seed
from tests.load.workload import ENDPOINTS, POOLS, Phase, Request, run_phase
from tests.support.services import free_port

SOAK_FRACTION = 0.8
P99_DRIFT = 0.20
RSS_GROWTH = 0.10


def _http(method: str, url: str, body: Any, token: str) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def http_seed_sample(base: str, world: World, samples: int = 3) -> dict[str, float]:
    """Servers and users created through the API: how fast (to compare with the bulk seed)."""
    admin = next(u for u in world.users if u.role == "admin")
    tools = 25
    started = time.perf_counter()
    for i in range(samples):
        _http("POST", f"{base}/api/v1/servers", {
            "name": f"http-sample-{i}", "transport": "http",
            "endpoint": f"http://127.0.0.1:9/sample/{i}", "sensitivity_level": "medium",
            "team": "team-00",
            "tools": [{"name": f"tool_{t:02d}", "description": "sample tool"}
                      for t in range(tools)],
        }, admin.token)  # fmt: skip
    servers_per_s = samples / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(samples):
        _http("POST", f"{base}/api/v1/users", {
            "username": f"http-sample-{i}", "password": "sample-password-123",
            "role": "developer", "teams": ["team-00"],
        }, admin.token)  # fmt: skip
    users_per_s = samples / (time.perf_counter() - started)
    counts = world.counts
    estimate = counts["servers"] / servers_per_s + counts["users"] / users_per_s
    return {"servers_per_s": servers_per_s, "users_per_s": users_per_s,
            "tools_per_server": tools, "estimate_s": estimate}  # fmt: skip


def probe(base: str, pools: dict[str, list[Request]]) -> str:
    """One request of each class must succeed before any load; the engine that decided."""
    engine = "?"
    for name, pool in pools.items():
        method, path, headers, body = pool[0]
        request = urllib.request.Request(base + path, data=body.encode() or None, method=method)
        for line in headers.strip().split("\r\n"):
            key, _, value = line.partition(": ")
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SystemExit(f"probe of {name} failed: {exc.code} {detail}") from None
        if name == "evaluate":
            engine = str(answer.get("engine"))
    return engine


def _rss_mib(sampler: server.RssSampler) -> float:
    return sampler.rss_kib() / 1024


def _verdicts(run: Run) -> None:
    intervals = run.intervals
    errors = sum(r.errors for p in intervals for r in p.results.values())
    run.verdicts.append(("soak: zero errors", errors == 0, f"{errors} errors"))
    if len(intervals) >= 2:
        for endpoint in ENDPOINTS:
            first = intervals[0].results[endpoint.name].p99_ms
            last = intervals[-1].results[endpoint.name].p99_ms
            drift = (last - first) / first if first else 0.0
            run.verdicts.append((f"flat p99 ({endpoint.name}): last within 20 % of first",
                                 drift <= P99_DRIFT, f"{first:.1f} → {last:.1f} ms "
                                 f"({drift:+.0%})"))  # fmt: skip
    rss = dict(run.rss)
    if "warm-up" in rss and intervals:
        base, end = rss["warm-up"], rss[intervals[-1].label]
        growth = (end - base) / base
        run.verdicts.append(("flat memory: worker RSS growth < 10 %", growth < RSS_GROWTH,
                             f"{base:.1f} → {end:.1f} MiB ({growth:+.1%})"))  # fmt: skip
    lost = sum(t.missing for t in run.tallies)
    dup = sum(t.duplicated for t in run.tallies)
    served = sum(t.decisions for t in run.tallies)
    matched = sum(t.rows_matched for t in run.tallies)
    run.verdicts.append(("audit rows == decisions served", lost == 0 and dup == 0,
                         f"{served:,} decisions, {matched:,} rows, {lost} missing, "
                         f"{dup} duplicated"))  # fmt: skip


def _soak(
    args: argparse.Namespace,
    run: Run,
    *,
    base: str,
    workdir: Path,
    pools: dict[str, list[Request]],
    sampler: server.RssSampler,
    answered: dict[str, list[Path]],
) -> None:
    """Warm up, then hold 80 % of the peak for the soak, one wrk run per interval."""
    run.rates = {name: result.rps * SOAK_FRACTION for name, result in run.peak.results.items()}
    phases = [("warm-up", "warmup", args.warmup)]
    count = max(1, round(args.soak_seconds / args.interval))
    phases += [(f"i{i + 1:02d}", f"i{i + 1:02d}", args.interval) for i in range(count)]
    for index, (label, tag, seconds) in enumerate(phases):
        phase = run_phase(base, workdir, tag, pools, duration=seconds, rates=run.rates,
                          seed=2 + index)  # fmt: skip
        if index == 0:
            run.warmup = phase
        else:
            run.intervals.append(phase)
        run.rss.append((label, _rss_mib(sampler)))
        run.backlog[label] = server.audit_backlog(base)
        _print_phase(run.backend, phase)
        for name, path in phase.answered.items():
            answered[name].append(path)


def one_backend(args: argparse.Namespace, backend: str) -> Run:
    """Seed, start, load (and soak) one backend; the measurements."""
    load_before = report.load_average()
    workdir = Path(tempfile.mkdtemp(prefix=f"sark-load-{backend}-"))
    try:
        with server.backend(backend) as store:
            env = server.environment(workdir / "home", free_port(), store)
            server.migrate(env)
            settings = Settings.from_env(env)
            print(f"[{backend}] seeding ...", flush=True)
            world = asyncio.run(seed(settings, Scale()))
            print(f"[{backend}] seeded {world.counts} in {world.seconds:.1f} s", flush=True)
            rng = random.Random(11)
            pools = {name: make(world, rng) for name, make in POOLS.items()}
            with server.serve(env, args.workers, workdir / "server.log") as (base, pgid):
                http_seed = http_seed_sample(base, world)
                engine = probe(base, pools)
                sampler = server.RssSampler(pgid)
                sampler.start()
                run = Run(backend=backend, command=_command(args, backend),
                          seed_counts=world.counts, seed_seconds=world.seconds,
                          http_seed=http_seed, load_before=load_before, engine=engine,
                          peak=run_phase(base, workdir, "peak", pools, duration=args.peak_seconds,
                                         rates=None, seed=1))  # fmt: skip
                _print_phase(backend, run.peak)
                answered = {name: [path] for name, path in run.peak.answered.items()}
                if args.mode == "soak":
                    _soak(args, run, base=base, workdir=workdir, pools=pools, sampler=sampler,
                          answered=answered)  # fmt: skip
                sampler.stop()
                print(f"[{backend}] waiting for the audit writer to flush ...", flush=True)
                rows = wait_flushed(settings)
                run.tallies = reconcile(rows, answered)
                run.fail_closed = fail_closed(settings)
                run.load_after = report.load_average()
            run.log_problems = server.log_problems(workdir / "server.log")
        if args.mode == "soak":
            _verdicts(run)
        else:
            lost = sum(t.missing + t.duplicated for t in run.tallies)
            run.verdicts.append(("audit rows == decisions served", lost == 0,
                                 f"{sum(t.decisions for t in run.tallies):,} decisions, "
                                 f"{sum(t.rows_matched for t in run.tallies):,} rows matched, "
                                 f"{lost} missing or duplicated"))  # fmt: skip
        return run
    finally:
        if args.keep:
            print(f"[{backend}] work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _print_phase(backend: str, phase: Phase) -> None:
    for name, result in phase.results.items():
        print(f"[{backend}] {phase.label:7} {name:9} {result.rps:9.1f} req/s  p50 "
              f"{result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  max {result.max_ms:8.2f}"
              f" ms  non-2xx {result.non_2xx} {result.statuses if result.non_2xx else ''} "
              f"socket {result.socket_errors} timeouts {result.timeouts}", flush=True)  # fmt: skip


def _command(args: argparse.Namespace, backend: str) -> str:
    parts = ["uv", "run", "python", "-m", "tests.load", args.mode, "--backend", backend]
    if args.mode == "run":
        parts += ["--peak-seconds", f"{args.peak_seconds:g}"]
    else:
        parts += [
            "--peak-seconds",
            f"{args.peak_seconds:g}",
            "--warmup",
            f"{args.warmup:g}",
            "--soak-seconds",
            f"{args.soak_seconds:g}",
            "--interval",
            f"{args.interval:g}",
        ]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run each backend, write the report; 1 if a check failed."""
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__)
    parser.add_argument("mode", choices=["run", "soak"])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--peak-seconds", "--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-docs", action="store_true", help="Do not write the report.")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failed = False
    for backend in backends:
        run = one_backend(args, backend)
        print(report.render(run))
        if not args.no_docs:
            report.write(run)
        failed = failed or not all(ok for _, ok, _ in run.verdicts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
