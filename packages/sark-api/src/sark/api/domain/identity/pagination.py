"""Opaque cursors over time-ordered (UUIDv7) primary keys."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final
from uuid import UUID

from litestar.params import QueryParameter

from sark.core.errors import ValidationError

DEFAULT_LIMIT: Final = 50
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size (at most 500).")]
"""A page size query parameter; use it bare (``limit: Limit = DEFAULT_LIMIT``): wrapped in
``FromQuery`` its bounds were lost, and a negative limit reached the database."""


def encode_cursor(last_id: UUID) -> str:
    """The cursor that continues after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> UUID | None:
    """The id a cursor continues after; :class:`ValidationError` when it is not a cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise ValidationError("the cursor is invalid; pass back a next_cursor unchanged") from None
