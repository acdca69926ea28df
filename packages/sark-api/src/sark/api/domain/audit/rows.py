"""``AuditRow``: an audit event with its identity, as queued, spooled and inserted."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

import msgspec
import uuid_utils

from sark.core.models import AuditEvent

_NUL = "\x00"
# A NUL escape in msgspec's JSON: ``\u0000`` after an even number of backslashes (an odd
# number means the backslash is text and "u0000" follows it as text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


class AuditRow(AuditEvent, frozen=True, kw_only=True):
    """One audit event with the id and sequence number the writer gave it."""

    id: str
    """UUIDv7 (canonical text form); the primary key that makes replays idempotent."""
    seq: int
    """Increasing per writer, continued across restarts (it starts at the clock in ns)."""


_encoder = msgspec.json.Encoder(enc_hook=str)
_row_decoder = msgspec.json.Decoder(AuditRow)


def _clean_details(details: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so any value (datetimes, UUIDs, objects) becomes storable.
    raw = _encoder.encode(details)
    if b"\\u0000" in raw:  # rare: the substitution costs more than the round trip
        raw = _ESCAPED_NUL.sub(rb"\1", raw)
    cleaned = msgspec.json.decode(raw)
    return cleaned if isinstance(cleaned, dict) else {"value": cleaned}


def make_row(event: AuditEvent, seq: int) -> AuditRow:
    """Give ``event`` its id and sequence number, making every field storable."""
    values = msgspec.structs.asdict(event)
    for name, value in values.items():
        if isinstance(value, str) and _NUL in value:  # PostgreSQL rejects NUL in text
            values[name] = value.replace(_NUL, "")
    try:
        values["details"] = _clean_details(event.details)
    except (TypeError, ValueError, msgspec.MsgspecError) as exc:
        values["details"] = {"unserializable": repr(exc)}
    return AuditRow(id=str(uuid_utils.uuid7()), seq=seq, **values)


def encode_line(row: AuditRow) -> bytes:
    """The spool line of ``row`` (JSON, newline-terminated)."""
    return _encoder.encode(row) + b"\n"


def decode_line(line: bytes) -> AuditRow:
    """Parse one spool line; raises ``msgspec.DecodeError`` on a torn or corrupt line."""
    return _row_decoder.decode(line)


def to_params(row: AuditRow) -> dict[str, Any]:
    """Bind parameters of ``row`` for an insert into ``audit_events``."""
    params = msgspec.structs.asdict(row)
    params["id"] = uuid.UUID(row.id)
    params["occurred_at"] = datetime.datetime.fromtimestamp(row.occurred_at, datetime.UTC)
    return params


def to_document(row: AuditRow) -> dict[str, Any]:
    """The JSON object a SIEM receives for ``row`` (time as RFC 3339 and Unix seconds)."""
    document = msgspec.structs.asdict(row)
    document["time"] = row.occurred_at
    document["occurred_at"] = (
        datetime.datetime.fromtimestamp(row.occurred_at, datetime.UTC)
        .isoformat()
        .replace("+00:00", "Z")
    )
    return document
