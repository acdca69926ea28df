"""Report line coverage per SARK package and fail under the gate (90 % overall and gateway).

Reads the coverage data of a finished run (``pytest --cov`` combines it into ``.coverage``),
prints one row per package and the total, and exits 1 when a gated figure is too low.
Usage: ``uv run python scripts/ci/coverage_gate.py [--data-file .coverage]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "sark-core": "packages/sark-core/src/",
    "sark-api": "packages/sark-api/src/",
    "sark-gateway": "packages/sark-gateway/src/",
    "sark-native": "packages/sark-native/python/",
}
GATES = {"total": 90.0, "sark-gateway": 90.0}


def measure(data_file: Path) -> dict[str, tuple[int, int]]:
    """Statements and covered statements per package, plus ``total``."""
    cov = coverage.Coverage(data_file=str(data_file), config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    counts = {name: [0, 0] for name in [*PACKAGES, "total"]}
    for measured in sorted(cov.get_data().measured_files()):
        relative = Path(measured).resolve().relative_to(ROOT).as_posix()
        package = next((n for n, prefix in PACKAGES.items() if relative.startswith(prefix)), None)
        if package is None:
            continue
        _, statements, _, missing, _ = cov.analysis2(measured)
        for name in (package, "total"):
            counts[name][0] += len(statements)
            counts[name][1] += len(statements) - len(missing)
    return {name: (total, covered) for name, (total, covered) in counts.items()}


def percent(total: int, covered: int) -> float:
    """Covered share in percent (an empty package counts as fully covered)."""
    return 100.0 * covered / total if total else 100.0


def main(argv: list[str] | None = None) -> int:
    """Print the table; 0 when every gate holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=ROOT / ".coverage")
    args = parser.parse_args(argv)
    if not args.data_file.exists():
        print(f"no coverage data at {args.data_file}: run `pytest --cov` first", file=sys.stderr)
        return 2
    failed = []
    print(f"{'package':<14} {'statements':>10} {'missed':>8} {'cover':>7}  gate")
    for name, (total, covered) in measure(args.data_file).items():
        value = percent(total, covered)
        gate = GATES.get(name)
        verdict = "" if gate is None else (f">= {gate:.0f} ok" if value >= gate else "FAIL")
        if gate is not None and value < gate:
            failed.append(f"{name} {value:.1f} % < {gate:.0f} %")
        print(f"{name:<14} {total:>10} {total - covered:>8} {value:>6.1f}%  {verdict}")
    if failed:
        print("coverage gate failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
