"""Child processes of the suites, the load harness and the benchmarks (``sark serve`` above all).

One way to start a server and one way to be sure it is gone: each process runs in a
session of its own, so stopping it signals its whole process group (granian's workers
included) and nothing outlives the test, even when the supervisor dies first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SARK = str(Path(sys.executable).parent / "sark")
"""The ``sark`` entry point of the interpreter running the tests."""


def answers(url: str, timeout: float = 2) -> bool:
    """True when ``GET url`` answers 200 (False when nothing listens yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    """One JSON request with an optional bearer token; the decoded answer (None if empty)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def _proc_stats() -> Iterator[tuple[int, list[str]]]:
    """``(pid, fields after the command name)`` of every process in /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # the command name may contain spaces and parentheses: fields follow the last ")"
            yield int(entry.name), stat[stat.rindex(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    """Processes of process group ``pgid``."""
    return sorted(pid for pid, fields in _proc_stats() if int(fields[2]) == pgid)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    return sorted(child for child, fields in _proc_stats() if int(fields[1]) == pid)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the process group led by ``process``; SIGKILL it if it outlasts ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # workers that outlived their supervisor
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def process_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    stop_timeout: float = 30,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in a new session, output to ``log`` (else discarded); stopped on exit."""
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("ab")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            list(command), env=None if env is None else dict(env), cwd=cwd, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_group(process, stop_timeout)
