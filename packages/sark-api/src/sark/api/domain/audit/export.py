"""Encoders of the streamed audit export: CSV and JSON lines."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import msgspec

from sark.api.domain.audit.schemas import AuditEventOut

FORMATS: Final = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
COLUMNS: Final = tuple(AuditEventOut.__struct_fields__)
_encoder = msgspec.json.Encoder()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _encoder.encode(value).decode()
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _csv(rows: Sequence[AuditEventOut], *, header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in COLUMNS])
    return buffer.getvalue().encode()


def _jsonl(rows: Sequence[AuditEventOut]) -> bytes:
    return b"".join(_encoder.encode(row) + b"\n" for row in rows)


async def encode(fmt: str, chunks: AsyncIterator[list[AuditEventOut]]) -> AsyncIterator[bytes]:
    """The body of an export in ``fmt``, one piece per fetched chunk."""
    if fmt == "csv":
        yield _csv([], header=True)
        async for rows in chunks:
            yield _csv(rows, header=False)
        return
    async for rows in chunks:
        yield _jsonl(rows)
