"""Secrets never appear in logs: a session-wide record of secrets, and a scan at the end.

Test helpers record every secret they create or receive (:func:`record`,
:func:`record_response`, :func:`record_settings_env`): passwords, API keys, access,
refresh and agent tokens, the JWT secret, the API-key pepper, the gateway key, LDAP bind
passwords and SIEM tokens. Every log record of the session at INFO and above goes to one
file (a root-logger handler, re-attached before and after each test in case a test
reconfigured logging), and every ``*.log`` file the tests left under the session's
temporary directory (the output of ``sark serve`` processes started by tests) is read too.
At the end of the session each secret of at least :data:`MIN_LENGTH` characters is looked
for; a leak fails the run, naming the file and line but never printing the secret.

Loaded by the root ``conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

MIN_LENGTH: Final = 12
"""Shorter strings are too likely to appear by chance (and are not secrets SARK makes)."""
PROBE: Final = 12
RESPONSE_KEYS: Final = frozenset({"access_token", "refresh_token", "key", "token", "password"})
"""Keys of JSON bodies (responses, payloads) whose string values are secrets."""
QUIET: Final = ("sqlalchemy", "aiosqlite", "asyncio", "hpack", "httpcore", "filelock", "faker")
"""Loggers that would flood the file at INFO (SQL statements) and are never about secrets."""

_secrets: dict[str, str] = {}
_handler: logging.Handler | None = None
_log_file: Path | None = None


def record(secret: object, what: str) -> None:
    """Remember ``secret`` (described by ``what``, never printed) for the end-of-run scan."""
    if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
        _secrets.setdefault(secret, what)


def record_response(body: object, what: str = "response") -> None:
    """Remember the secrets of a JSON body (tokens, keys, passwords, at any depth)."""
    if isinstance(body, Mapping):
        for key, value in body.items():
            if key in RESPONSE_KEYS:
                record(value, f"{what}.{key}")
            else:
                record_response(value, what)
    elif isinstance(body, list):
        for item in body:
            record_response(item, what)


def record_settings_env(env: Mapping[str, str]) -> None:
    """Remember the values of every secret setting in ``env`` (URLs excepted)."""
    from sark.core.options import OPTIONS

    for option in OPTIONS:
        if option.kind == "secret" and not option.env.endswith("_URL") and option.env in env:
            record(env[option.env], option.env)


def recorded() -> dict[str, str]:
    """Every secret recorded so far, with what it is."""
    return dict(_secrets)


# ------------------------------------------------------------------ the scan


@dataclass(frozen=True)
class Leak:
    """A secret found in a log."""

    what: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.what} in {self.path}:{self.line}"


def mask(secret: str) -> str:
    """A secret as it may be shown: its first 4 characters only."""
    return f"{secret[:4]}…({len(secret)} chars)"


def scan_text(text: str, secrets: Mapping[str, str], path: Path) -> Iterator[Leak]:
    """Leaks of ``secrets`` in ``text`` (one pass; each secret keyed by its last chars)."""
    # JWTs share their first characters (the header), so index secrets by their tails.
    tails: dict[str, list[str]] = {}
    for secret in secrets:
        if len(secret) >= MIN_LENGTH:
            tails.setdefault(secret[-PROBE:], []).append(secret)
    if not tails or len(text) < PROBE:
        return
    found: set[str] = set()
    for end in range(PROBE, len(text) + 1):
        candidates = tails.get(text[end - PROBE : end])
        if candidates is None:
            continue
        for secret in candidates:
            if secret not in found and text.endswith(secret, 0, end):
                found.add(secret)
                yield Leak(secrets[secret], path, text.count("\n", 0, end) + 1)


def scan_files(paths: Iterable[Path], secrets: Mapping[str, str]) -> list[Leak]:
    """Leaks of ``secrets`` in the files ``paths``."""
    leaks: list[Leak] = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        leaks.extend(scan_text(text, secrets, path))
    return leaks


# ------------------------------------------------------------------ pytest hooks


def _attach() -> None:
    if _handler is None:
        return
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    for name in QUIET:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Start writing every log record of the session to one file."""
    global _handler, _log_file  # noqa: PLW0603 - one handler for the whole session
    if os.environ.get("SARK_SECRETS_SCAN", "1") == "0" or hasattr(config, "workerinput"):
        return
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    _log_file = Path(base) / "secrets-scan-session.log"
    _handler = logging.FileHandler(_log_file, encoding="utf-8")
    _handler.setLevel(logging.INFO)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    _attach()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Re-attach the handler (a previous test may have reconfigured logging)."""
    _attach()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Re-attach the handler (this test may have reconfigured logging)."""
    _attach()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan the session's logs for every recorded secret; fail the run on a leak."""
    if _handler is None or _log_file is None:
        return
    _handler.flush()
    base = _log_file.parent
    files = [_log_file, *(p for p in base.rglob("*.log") if p != _log_file)]
    leaks = scan_files(files, _secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"secrets scan: {len(_secrets)} secrets, {len(files)} log files "
        f"({sum(p.stat().st_size for p in files if p.exists())} bytes), {len(leaks)} leaks"
    )
    if reporter is not None:
        reporter.write_line(summary)
        for leak in leaks:
            reporter.write_line(f"  LEAK: {leak}", red=True)
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
