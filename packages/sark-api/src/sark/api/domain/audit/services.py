"""Reading the audit trail: filters, keyset cursors, pages and chunked export."""

from __future__ import annotations

import base64
import binascii
import datetime
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.audit.models import AuditEventRecord, audit_events
from sark.api.domain.audit.schemas import AuditEventOut, AuditPage
from sark.core.errors import ValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
EXPORT_CHUNK = 1000
_COLUMNS = tuple(AuditEventOut.__struct_fields__)


def _time(name: str, value: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        msg = f"{name}: not an RFC 3339 time (example: 2026-11-23T10:00:00Z), got {value!r}"
        raise ValidationError(msg) from None
    if moment.tzinfo is None:
        msg = f"{name}: the time needs a UTC offset or Z (example: 2026-11-23T10:00:00Z)"
        raise ValidationError(msg)
    return moment.astimezone(datetime.UTC)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilters:
    """What to select from the audit trail (every given filter must match)."""

    since: datetime.datetime | None = None
    """Inclusive lower bound of ``occurred_at``."""
    until: datetime.datetime | None = None
    """Exclusive upper bound of ``occurred_at``."""
    principal: str | None = None
    action: str | None = None
    kind: str | None = None
    decision: bool | None = None
    server: str | None = None
    tool: str | None = None
    decision_id: str | None = None
    request_id: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str | None]) -> AuditFilters:
        """Validate raw query parameters; a bad one raises a 422 naming it."""
        values: dict[str, Any] = {
            key: (value.strip() or None) if isinstance(value, str) else None
            for key, value in query.items()
        }
        since = _time("since", values["since"]) if values.get("since") else None
        until = _time("until", values["until"]) if values.get("until") else None
        if since and until and since >= until:
            msg = "since must be earlier than until"
            raise ValidationError(msg)
        decision_text = values.get("decision")
        if decision_text is not None and decision_text.lower() not in {"allow", "deny"}:
            msg = f"decision: expected allow or deny, got {decision_text!r}"
            raise ValidationError(msg)
        decision = None if decision_text is None else decision_text.lower() == "allow"
        names = ("principal", "action", "kind", "server", "tool", "decision_id", "request_id")
        return cls(since=since, until=until, decision=decision, **{n: values.get(n) for n in names})

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions of these filters."""
        c = audit_events.c
        found: list[ColumnElement[bool]] = []
        if self.since is not None:
            found.append(c.occurred_at >= self.since)
        if self.until is not None:
            found.append(c.occurred_at < self.until)
        equal = {
            c.principal_id: self.principal,
            c.action: self.action,
            c.kind: self.kind,
            c.decision_id: self.decision_id,
            c.request_id: self.request_id,
        }
        found.extend(column == value for column, value in equal.items() if value is not None)
        if self.decision is not None:
            found.append(c.allow.is_(self.decision))
        if self.server is not None:
            # Decisions name their resource ``server/tool`` (or ``server``).
            prefix = _like_escape(self.server) + "/%"
            found.append(or_(c.resource == self.server, c.resource.like(prefix, escape="\\")))
        if self.tool is not None:
            found.append(c.resource.like(f"%{_like_escape(self.tool)}%", escape="\\"))
        return found


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the last event of a page, ``(occurred_at, id)``."""

    occurred_at: datetime.datetime
    id: uuid.UUID

    def encode(self) -> str:
        """The opaque text form handed to clients."""
        raw = msgspec.json.encode([self.occurred_at.isoformat(), self.id.hex])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor from :meth:`encode`; anything else is a 422."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, ident = msgspec.json.decode(raw, type=tuple[str, str])
            occurred_at = datetime.datetime.fromisoformat(moment)
            if occurred_at.tzinfo is None:
                raise ValueError(moment)
            return cls(occurred_at, uuid.UUID(hex=ident))
        except (ValueError, binascii.Error, msgspec.DecodeError, msgspec.ValidationError):
            msg = "cursor: not a cursor returned by this API (use next_cursor as given)"
            raise ValidationError(msg) from None


def parse_limit(text: str | None) -> int:
    """The page size: 1 to 500, default 100."""
    if text is None or not text.strip():
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        msg = f"limit: expected an integer from 1 to {MAX_LIMIT}, got {text!r}"
        raise ValidationError(msg) from None
    if not 1 <= limit <= MAX_LIMIT:
        msg = f"limit: must be from 1 to {MAX_LIMIT}, got {limit}"
        raise ValidationError(msg)
    return limit


def page_statement(filters: AuditFilters, after: Cursor | None, limit: int) -> Select[Any]:
    """Newest-first events matching ``filters`` strictly after ``after`` (keyset)."""
    c = audit_events.c
    statement = select(audit_events).where(*filters.conditions())
    if after is not None:
        statement = statement.where(
            or_(
                c.occurred_at < after.occurred_at,
                and_(c.occurred_at == after.occurred_at, c.id < after.id),
            )
        )
    return statement.order_by(c.occurred_at.desc(), c.id.desc()).limit(limit)


def to_out(row: Mapping[str, Any]) -> AuditEventOut:
    """The API form of a fetched row."""
    values = {name: row[name] for name in _COLUMNS}
    values["id"] = str(row["id"])
    values["details"] = row["details"] or {}
    return AuditEventOut(**values)


def _cursor_of(item: AuditEventOut) -> Cursor:
    return Cursor(item.occurred_at, uuid.UUID(item.id))


class AuditService(SQLAlchemyAsyncRepositoryService[AuditEventRecord]):
    """Reads the audit trail (writes go through the writer, never through this service)."""

    class Repo(SQLAlchemyAsyncRepository[AuditEventRecord]):
        """The ``audit_events`` repository."""

        model_type = AuditEventRecord

    repository_type = Repo

    async def page(self, filters: AuditFilters, cursor: Cursor | None, limit: int) -> AuditPage:
        """One page of events, newest first, and the cursor of the next page."""
        result = await self.repository.session.execute(page_statement(filters, cursor, limit + 1))
        items = [to_out(row) for row in result.mappings()]
        more = len(items) > limit
        items = items[:limit]
        next_cursor = _cursor_of(items[-1]).encode() if more and items else None
        return AuditPage(items=items, next_cursor=next_cursor)


async def iter_events(
    engine: AsyncEngine, filters: AuditFilters, chunk: int = EXPORT_CHUNK
) -> AsyncIterator[list[AuditEventOut]]:
    """Every matching event, newest first, fetched ``chunk`` rows at a time (keyset).

    Each chunk uses its own short connection: a streamed response outlives the request's
    session, and no transaction stays open while a slow client reads.
    """
    after: Cursor | None = None
    while True:
        async with engine.connect() as connection:
            result = await connection.execute(page_statement(filters, after, chunk))
            items = [to_out(row) for row in result.mappings()]
        if not items:
            return
        yield items
        if len(items) < chunk:
            return
        after = _cursor_of(items[-1])
