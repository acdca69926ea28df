"""``AuditRow``: an audit event with its identity, as queued, spooled and inserted."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

import msgspec
import uuid_utils

from sark.core.models import AuditEvent, AuditFields

_NUL = "\x00"
# A NUL escape in msgspec's JSON: ``\u0000`` after an even number of backslashes (an odd
# number means the backslash is text and "u0000" follows it as text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
_TEXT_FIELDS = tuple(
    field.name for field in msgspec.structs.fields(AuditFields) if field.type in (str, str | None)
)


class AuditRow(AuditFields, frozen=True, kw_only=True, gc=False):
    """One audit event as the writer queues, spools and inserts it.

    ``details`` is already JSON text (msgspec inlines it when a row is encoded), so a row
    holds no container: rows are not tracked by the cyclic garbage collector (``gc=False``),
    which would otherwise rescan every queued row at each full collection.
    """

    details: msgspec.Raw
    """The event's details as a JSON object, NUL characters removed."""
    id: str
    """UUIDv7 (canonical text form); the primary key that makes replays idempotent."""
    seq: int
    """Increasing per writer, continued across restarts (it starts at the clock in ns)."""


_encoder = msgspec.json.Encoder(enc_hook=str)
_row_decoder = msgspec.json.Decoder(AuditRow)


def _details_json(details: dict[str, Any]) -> msgspec.Raw:
    # Encoded with str() for any value JSON lacks (datetimes, UUIDs, objects).
    raw = _encoder.encode(details)
    if b"\\u0000" in raw:  # rare: PostgreSQL rejects NUL in text and in JSON
        raw = _ESCAPED_NUL.sub(rb"\1", raw)
    if not raw.startswith(b"{"):  # not a dict after all: keep it under a key
        raw = b'{"value":' + raw + b"}"
    return msgspec.Raw(raw)


def make_row(event: AuditEvent, seq: int) -> AuditRow:
    """Give ``event`` its id and sequence number, making every field storable."""
    values = msgspec.structs.asdict(event)
    for name in _TEXT_FIELDS:
        value = values[name]
        if value and _NUL in value:  # PostgreSQL rejects NUL in text
            values[name] = value.replace(_NUL, "")
    try:
        values["details"] = _details_json(event.details)
    except (TypeError, ValueError, msgspec.MsgspecError) as exc:
        values["details"] = _details_json({"unserializable": repr(exc)})
    return AuditRow(id=str(uuid_utils.uuid7()), seq=seq, **values)


def details_of(row: AuditRow) -> dict[str, Any]:
    """The details of ``row`` as a dict."""
    details: dict[str, Any] = msgspec.json.decode(row.details)
    return details


def encode_line(row: AuditRow) -> bytes:
    """The spool line of ``row`` (JSON, newline-terminated)."""
    return _encoder.encode(row) + b"\n"


def decode_line(line: bytes) -> AuditRow:
    """Parse one spool line; raises ``msgspec.DecodeError`` on a torn or corrupt line."""
    return _row_decoder.decode(line)


def to_params(row: AuditRow) -> dict[str, Any]:
    """Bind parameters of ``row`` for an insert into ``audit_events``."""
    params = msgspec.structs.asdict(row)
    params["details"] = details_of(row)
    params["id"] = uuid.UUID(row.id)
    params["occurred_at"] = datetime.datetime.fromtimestamp(row.occurred_at, datetime.UTC)
    return params


def to_document(row: AuditRow) -> dict[str, Any]:
    """The JSON object a SIEM receives for ``row`` (time as RFC 3339 and Unix seconds)."""
    document = msgspec.structs.asdict(row)
    document["details"] = details_of(row)
    document["time"] = row.occurred_at
    document["occurred_at"] = (
        datetime.datetime.fromtimestamp(row.occurred_at, datetime.UTC)
        .isoformat()
        .replace("+00:00", "Z")
    )
    return document
