"""Opaque keyset cursors: ``(sort key, id)`` of the last item of a page."""

from __future__ import annotations

import base64
import binascii
import uuid

import msgspec

from sark.core.errors import ValidationError


def encode(key: str, item_id: uuid.UUID) -> str:
    """The cursor that continues after the item ``(key, item_id)``."""
    raw = msgspec.json.encode([key, str(item_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[str, uuid.UUID]:
    """The ``(key, id)`` a cursor continues after; 422 when it was not made by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, item_id = msgspec.json.decode(
            base64.urlsafe_b64decode(padded.encode()), type=tuple[str, str]
        )
        return key, uuid.UUID(item_id)
    except (binascii.Error, msgspec.DecodeError, ValueError):
        raise ValidationError("invalid cursor: pass next_cursor of a previous page") from None
