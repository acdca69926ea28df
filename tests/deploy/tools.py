"""Shared helpers of the deployment-asset tests: the repository root and external tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sark.core import OPTIONS
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Variables SARK reads that are not rows of the options table.
EXTRA_VARIABLES = frozenset({"SARK_CONFIG", "SARK_NATIVE", "PROMETHEUS_MULTIPROC_DIR"})
SARK_VARIABLES = frozenset(o.env for o in OPTIONS if o.env) | EXTRA_VARIABLES


def tool(name: str) -> str:
    """Path of the command-line tool ``name``: PATH, then ~/go/bin (where `go install` puts it).

    Missing, the test skips; under CI=true it fails (.ci/run installs every tool).
    """
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go"))
    found = shutil.which(name) or shutil.which(name, path=str(gopath / "bin"))
    if found is None:
        unavailable(name, f"not on PATH nor in {gopath / 'bin'} (see .ci/run for the install)")
    return found


def run(*command: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on failure (with ``check``) the assertion shows its output."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result


def is_sark_variable(name: str) -> bool:
    """Whether ``name`` looks like a SARK setting (and so must exist in the options table)."""
    return name.startswith(("SARK_", "GATEWAY_", "A2A_"))
