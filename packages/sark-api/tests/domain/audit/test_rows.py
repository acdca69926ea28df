"""``AuditRow``: the stored form of an event (details as JSON text, no GC tracking)."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import msgspec

from sark.api.domain.audit.rows import (
    AuditRow,
    decode_line,
    details_of,
    encode_line,
    make_row,
    to_document,
    to_params,
)
from sark.core.models import AuditEvent

from .conftest import make_event


def event(details: Any, **changes: Any) -> AuditEvent:
    """A decision event of the package's fixtures with ``details``."""
    return make_event(0, details=details, **changes)


def test_details_are_json_text_and_rows_are_not_tracked_by_the_collector() -> None:
    row = make_row(event({"cache": "hit", "filtered": ["/a", "/b"], "n": 1}), 7)
    assert isinstance(row.details, msgspec.Raw)
    assert details_of(row) == {"cache": "hit", "filtered": ["/a", "/b"], "n": 1}
    assert not gc.is_tracked(row)
    assert (row.seq, uuid.UUID(row.id).version) == (7, 7)


def test_values_json_lacks_become_text_and_a_non_object_is_kept_under_value() -> None:
    moment = uuid.UUID(int=5)
    assert details_of(make_row(event({"id": moment}), 1)) == {"id": str(moment)}
    assert details_of(make_row(event(["a", 1]), 1)) == {"value": ["a", 1]}
    assert details_of(make_row(event("text"), 1)) == {"value": "text"}


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text for this object")


def test_details_that_cannot_be_encoded_say_why() -> None:
    details = details_of(make_row(event({"x": Unprintable()}), 1))
    assert details == {"unserializable": "ValueError('no text for this object')"}


def test_nul_is_removed_from_text_fields_and_details() -> None:
    row = make_row(
        event({"k\x00": "a\x00b", "sql": "'\\u0000'"}, reason="r\x00", resource="s\x00"), 1
    )
    assert (row.reason, row.resource) == ("r", "s")
    assert details_of(row) == {"k": "ab", "sql": "'\\u0000'"}


def test_the_spool_line_round_trips_and_every_consumer_sees_a_dict() -> None:
    row = make_row(event({"nested": {"deep": [1, {"x": None}]}}), 3)
    line = encode_line(row)
    assert msgspec.json.decode(line)["details"] == {"nested": {"deep": [1, {"x": None}]}}
    again = decode_line(line)
    assert again == row
    assert isinstance(again, AuditRow)
    assert not gc.is_tracked(again)
    assert to_params(row)["details"] == details_of(row)
    assert to_document(row)["details"] == details_of(row)
