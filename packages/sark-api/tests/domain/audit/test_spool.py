"""The spool: durable ordered segments, torn lines, adoption of exited writers' files."""

from __future__ import annotations

from pathlib import Path

from sark.api.domain.audit.rows import AuditRow, details_of, make_row
from sark.api.domain.audit.spool import Spool

from .conftest import make_event


def _rows(first: int, count: int) -> list[AuditRow]:
    return [make_row(make_event(first + i), first + i) for i in range(count)]


def _numbers(spool: Spool, segments: list[Path]) -> list[int]:
    return [details_of(row)["n"] for segment in segments for row in spool.read(segment)]


def test_segments_replay_in_sequence_order_even_when_an_older_batch_arrives_late(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    spool.open(1)
    spool.append(_rows(100, 10))  # spilled while the batch 90..99 was still being inserted
    spool.append(_rows(110, 5))
    spool.append(_rows(90, 10))  # that insert failed: it is older and must replay first
    segments = spool.seal()
    assert _numbers(spool, segments) == list(range(90, 115))
    spool.close()


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open(1)
    spool.append(_rows(1, 3))
    [segment] = spool.seal()
    with segment.open("ab") as handle:
        handle.write(b'{"id": "01')  # a crash in the middle of a write
    assert _numbers(spool, [segment]) == [1, 2, 3]
    assert spool.torn_lines == 1
    spool.close()


def test_exited_writers_directories_are_adopted_but_live_ones_are_not(tmp_path: Path) -> None:
    live = Spool(tmp_path)
    live.open(10)
    live.append(_rows(11, 2))
    exited = Spool(tmp_path)
    exited.open(1)
    exited.append(_rows(2, 2))
    exited.close()  # keeps its directory: it holds events

    newcomer = Spool(tmp_path)
    newcomer.open(100)
    segments = newcomer.seal()
    assert _numbers(newcomer, segments) == [2, 3]  # not the live writer's 11, 12
    for segment in segments:
        newcomer.remove(segment)
    assert newcomer.is_empty()
    newcomer.close()
    live.close()
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert len(remaining) == 1
    assert remaining[0].startswith("00000000000000000010-")


def test_closing_an_empty_spool_removes_its_directory(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open(5)
    assert spool.is_empty()
    spool.close()
    assert list(tmp_path.iterdir()) == []
