"""The embedded write-ahead log: torn tails, damage, and reads that start part way through."""
from __future__ import annotations

import pytest

from dedup.config import Config
from dedup.errors import StoreFailure
from dedup.storage import LOG_NAME, LogStore, stored_records


def _records(n: int, start: int = 0) -> list[dict]:
    return [{"op": "add", "id": f"a{i}", "text": f"article {i} " * 20} for i in range(start, start + n)]


def test_a_read_after_a_position_returns_exactly_the_later_records(tmp_path):
    store = LogStore(tmp_path, Config())
    positions = [store.append([r]) for r in _records(6)]
    assert [r["id"] for _, r in store.read(positions[2])] == ["a3", "a4", "a5"]
    assert [p for p, _ in store.read(positions[2])] == positions[3:]
    assert [r["id"] for _, r in store.read(0)] == [f"a{i}" for i in range(6)]
    assert list(store.read(store.end)) == []
    store.close()


def test_a_read_from_inside_a_record_is_refused_not_empty(tmp_path):
    store = LogStore(tmp_path, Config())
    positions = [store.append([r]) for r in _records(3)]
    with pytest.raises(StoreFailure, match="not the start of a record"):
        list(store.read(positions[0] + 5))
    store.close()


def test_a_torn_tail_is_cut_when_the_log_is_opened_and_writing_goes_on(tmp_path):
    store = LogStore(tmp_path, Config())
    end = store.append(_records(3))
    store.close()
    with open(tmp_path / LOG_NAME, "ab") as handle:
        handle.write(b"\x40\x00\x00\x00\x01\x02")  # a header and nothing of its payload
    store = LogStore(tmp_path, Config())
    assert store.end == end and (tmp_path / LOG_NAME).stat().st_size == end
    store.append(_records(1, start=3))
    store.close()
    assert [r["id"] for r in stored_records(tmp_path)] == ["a0", "a1", "a2", "a3"]


def test_a_damaged_record_before_the_tail_is_refused(tmp_path):
    store = LogStore(tmp_path, Config())
    first = store.append(_records(1))
    store.append(_records(2, start=1))
    store.close()
    data = bytearray((tmp_path / LOG_NAME).read_bytes())
    data[first + 20] ^= 0xFF  # a flipped byte inside the second record's payload
    (tmp_path / LOG_NAME).write_bytes(bytes(data))
    with pytest.raises(StoreFailure, match="damaged at byte"):
        LogStore(tmp_path, Config())
