"""The audit spool: append-only JSON-lines segments the writer falls back to.

Layout (``$SARK_HOME/audit-spool`` by default)::

    audit-spool/
      <first seq>-<pid>/          one directory per writer process, flock'ed while it runs
        .lock
        <first seq of segment>.jsonl   one AuditRow per line, fsync'd after every append
      rejected/                   rows the database refused one by one (kept, never dropped)

Segment names are zero-padded sequence numbers, and sequence numbers start at the clock in
nanoseconds, so sorting directories and then segments by name replays events in the order
they were recorded, across processes and restarts. A directory whose lock can be taken
belongs to a process that has exited; the next writer adopts and replays it.

Every method does blocking file I/O: the writer calls them from one worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from sark.api.domain.audit.rows import AuditRow, decode_line, encode_line

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: single-process use only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("sark.audit.spool")

SEGMENT_SUFFIX = ".jsonl"
LOCK_NAME = ".lock"
REJECTED_DIR = "rejected"
DEFAULT_SEGMENT_MAX_BYTES = 8 * 1024 * 1024


def _fsync_dir(path: Path) -> None:
    # A new or removed file name is durable only once its directory is synced.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_name(seq: int) -> str:
    return f"{seq:020d}{SEGMENT_SUFFIX}"


class _Owned:
    """A spool directory this process holds the lock of."""

    def __init__(self, path: Path, lock: IO[bytes]) -> None:
        self.path = path
        self.lock = lock

    def segments(self) -> list[Path]:
        return sorted(p for p in self.path.glob(f"*{SEGMENT_SUFFIX}") if p.is_file())

    def release(self, *, remove: bool) -> None:
        if remove:
            with contextlib.suppress(OSError):
                (self.path / LOCK_NAME).unlink()
                self.path.rmdir()
        self.lock.close()


def _try_lock(directory: Path) -> IO[bytes] | None:
    handle = (directory / LOCK_NAME).open("ab")
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


class Spool:
    """Durable, ordered overflow storage for audit rows."""

    def __init__(self, root: Path, *, segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES) -> None:
        self.root = root
        self.segment_max_bytes = segment_max_bytes
        self._lock = threading.Lock()
        self._own: _Owned | None = None
        self._adopted: list[_Owned] = []
        self._open: IO[bytes] | None = None
        self._open_path: Path | None = None
        self._open_last_seq = -1
        self.torn_lines = 0

    # ------------------------------------------------------------------ ownership

    def open(self, first_seq: int) -> None:
        """Create this process's directory and adopt those of exited processes."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.root / f"{first_seq:020d}-{os.getpid()}"
            path.mkdir(exist_ok=True)
            lock = _try_lock(path)
            if lock is None:  # pragma: no cover - same pid and ns twice
                msg = f"audit spool directory {path} is locked by another writer"
                raise RuntimeError(msg)
            self._own = _Owned(path, lock)
            _fsync_dir(self.root)
            self._adopt()

    def _adopt(self) -> None:
        own = self._own.path if self._own else None
        held = {owned.path for owned in self._adopted}
        for directory in sorted(self.root.iterdir()):
            if not directory.is_dir() or directory.name == REJECTED_DIR:
                continue
            if directory == own or directory in held:
                continue
            lock = _try_lock(directory)
            if lock is None:
                continue  # a live writer (another worker process) owns it
            adopted = _Owned(directory, lock)
            if adopted.segments():
                log.info("adopting audit spool %s left by an earlier process", directory)
                self._adopted.append(adopted)
            else:
                adopted.release(remove=True)

    def close(self) -> None:
        """Close the open segment and release every directory (removing empty ones)."""
        with self._lock:
            self._close_open()
            for owned in self._adopted:
                owned.release(remove=not owned.segments())
            self._adopted.clear()
            if self._own is not None:
                self._own.release(remove=not self._own.segments())
                self._own = None

    # ------------------------------------------------------------------ writing

    def append(self, rows: Sequence[AuditRow]) -> None:
        """Append ``rows`` (in sequence order) durably: written and fsync'd on return."""
        if not rows:
            return
        with self._lock:
            if self._own is None:
                msg = "the audit spool is not open"
                raise RuntimeError(msg)
            data = b"".join(encode_line(row) for row in rows)
            first, last = rows[0].seq, rows[-1].seq
            if first <= self._open_last_seq:
                # Older than what the open segment holds (a batch that failed while newer
                # events were already spooled): a segment of its own sorts before it.
                self._write_new(self._own.path / _segment_name(first), data)
                return
            if self._open is None or self._open.tell() >= self.segment_max_bytes:
                self._close_open()
                self._open_path = self._own.path / _segment_name(first)
                self._open = self._open_path.open("ab")
                _fsync_dir(self._own.path)
            self._open.write(data)
            self._open.flush()
            os.fsync(self._open.fileno())
            self._open_last_seq = last

    def _write_new(self, path: Path, data: bytes) -> None:
        with path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(path.parent)

    def _close_open(self) -> None:
        if self._open is not None:
            self._open.close()
        self._open = None
        self._open_path = None

    def reject(self, rows: Sequence[AuditRow]) -> Path:
        """Keep rows the database refused in ``rejected/`` for an operator to inspect."""
        directory = self.root / REJECTED_DIR
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _segment_name(rows[0].seq)
        self._write_new(path, b"".join(encode_line(row) for row in rows))
        return path

    # ------------------------------------------------------------------ replay

    def seal(self) -> list[Path]:
        """Close the open segment and return every segment to replay, oldest first."""
        with self._lock:
            self._close_open()
            self._adopt()
            return list(self._segments())

    def _segments(self) -> Iterator[Path]:
        for owned in self._adopted:
            yield from owned.segments()
        if self._own is not None:
            yield from self._own.segments()

    def is_empty(self) -> bool:
        """Whether no segment holds events (the open one included)."""
        with self._lock:
            return next(self._segments(), None) is None

    def read(self, segment: Path) -> list[AuditRow]:
        """The rows of ``segment`` in order; a torn last line (crash mid-write) is skipped."""
        rows: list[AuditRow] = []
        lines = segment.read_bytes().split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(decode_line(line))
            except msgspec.DecodeError:
                self.torn_lines += 1
                log.error("skipping unreadable line %d of audit spool %s", number, segment)
        return rows

    def remove(self, segment: Path) -> None:
        """Delete a replayed segment (and its directory once adopted and empty)."""
        with self._lock:
            segment.unlink(missing_ok=True)
            _fsync_dir(segment.parent)
            for owned in list(self._adopted):
                if owned.path == segment.parent and not owned.segments():
                    owned.release(remove=True)
                    self._adopted.remove(owned)
