"""Benchmark: cost of the JSON request limits on a typical decision body (not a test).

Measures, per call, ``sark.api.limits.check_json`` on a ~300-byte ``/api/v1/policy/evaluate``
body (the cheap bound: no decode), next to msgspec decoding the same body (which every
request pays anyway), and the slow path on a body over the bound (decode + walk).

    uv run python tests/benchmarks/bench_limits.py [--rounds 7] [--number 200000]

Prints a Markdown table; each figure is the best of ``--rounds`` timings of ``--number`` calls.
"""

from __future__ import annotations

import argparse
import json
import timeit

import msgspec

from sark.api.limits import check_json
from sark.core.settings import LimitsSettings

TYPICAL = json.dumps(
    {
        "action": "tool:invoke",
        "server": "postgres-mcp",
        "tool": "run_query",
        "parameters": {"query": "select id, name from customers where id = $1", "args": [42]},
        "context": {"approval_id": None, "ticket": "OPS-1234", "trace": "4bf92f3577b34da6"},
    }
).encode()
# ~300 bytes with 40 containers: past the depth bound (32), so it is decoded and walked
BUSY = json.dumps(
    {"action": "tool:invoke", "parameters": {"rows": [[i] for i in range(40)]}}
).encode()


def best(stmt: object, rounds: int, number: int) -> float:
    """Best time of one call in microseconds."""
    return min(timeit.repeat(stmt, number=number, repeat=rounds)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    """Run the measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args()
    limits = LimitsSettings()
    decode = msgspec.json.Decoder().decode
    rows = [
        (f"check_json, typical body ({len(TYPICAL)} B)", lambda: check_json(TYPICAL, limits)),
        (f"msgspec decode, same body ({len(TYPICAL)} B)", lambda: decode(TYPICAL)),
        (
            f"check_json, 40 nested lists ({len(BUSY)} B, slow path)",
            lambda: check_json(BUSY, limits),
        ),
    ]
    print("| operation | µs per call |")
    print("|---|---|")
    for label, stmt in rows:
        print(f"| {label} | {best(stmt, args.rounds, args.number):.2f} |")


if __name__ == "__main__":
    main()
