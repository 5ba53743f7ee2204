"""Raw payloads in segment files (store/segments.py): written once, durable before the row,
read back checked, old BLOB rows still readable, and a bad segment costs its window only."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from sqlite_utils import Database

from gateway.inference.results import ResultStore
from gateway.intake.payloads import audio_window
from gateway.store.database import IntakeStore, open_database
from gateway.store.migrations import migrations
from gateway.store.segments import (
    RAW_COLUMNS,
    RawRef,
    RawUnreadable,
    SegmentWriter,
    list_segments,
    raw_dir_of,
    read_raw,
    segment_path,
    window_raw,
)
from gateway.wav import encode_wav
from tests.unit.test_worker import Scorer, analyser, rows


def window(n: int, seconds: float = 0.25):
    samples = np.full((int(16000 * seconds), 1), 0.1 + n / 1000, np.float32)
    return audio_window(device_id="box", topic="sensors/box/audio",
                        payload=encode_wav(samples, 16000), captured_at_ms=1000 + n,
                        received_at_ms=1000 + n, source="mqtt")


def refs(path, window_id: int) -> tuple:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {RAW_COLUMNS} FROM windows WHERE id = ?",
                            (window_id,)).fetchone()
    finally:
        conn.close()


def test_appended_payloads_read_back_and_a_changed_byte_is_caught(tmp_path):
    writer = SegmentWriter(tmp_path / "raw")
    payloads = [b"a" * 100, b"", b"bc" * 5000]
    got = writer.append(payloads)
    writer.close()
    assert [read_raw(tmp_path / "raw", ref) for ref in got] == payloads
    assert [ref.offset for ref in got] == [0, 100, 100]
    path = segment_path(tmp_path / "raw", got[2].segment)
    data = bytearray(path.read_bytes())
    data[150] ^= 1
    path.write_bytes(data)
    with pytest.raises(RawUnreadable, match="checksum"):
        read_raw(tmp_path / "raw", got[2])
    with pytest.raises(RawUnreadable, match="cut short"):
        read_raw(tmp_path / "raw", got[2]._replace(length=10**6))
    with pytest.raises(RawUnreadable, match="missing"):
        read_raw(tmp_path / "raw", RawRef(got[0].segment + 1, 0, 1, 0))


def test_a_segment_rolls_at_its_size_and_a_new_writer_never_appends_to_an_old_one(tmp_path):
    raw = tmp_path / "raw"
    writer = SegmentWriter(raw, roll_bytes=1000)
    first = writer.append([b"x" * 600])[0]
    second = writer.append([b"y" * 600])[0]  # would pass 1000: a new segment
    third = writer.append([b"z" * 2000])[0]  # larger than a segment: one of its own
    writer.close()
    assert first.segment < second.segment < third.segment and second.offset == 0
    # A crash leaves a tail no row points at; after a restart the writer starts a new file.
    with open(segment_path(raw, third.segment), "ab") as f:
        f.write(b"orphan tail")
    again = SegmentWriter(raw)
    fourth = again.append([b"w"])[0]
    again.close()
    assert fourth.segment > third.segment and fourth.offset == 0
    assert list_segments(raw) == [first.segment, second.segment, third.segment, fourth.segment]
    assert read_raw(raw, third) == b"z" * 2000


def test_a_window_row_holds_where_its_raw_bytes_are_not_the_bytes(tmp_path):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    windows = [window(n) for n in range(3)]
    assert store.write_batch(windows).window_ids == [1, 2, 3]
    size = sum(segment_path(raw_dir_of(path), s).stat().st_size
               for s in list_segments(raw_dir_of(path)))
    outcome = store.write_batch(windows[:2])  # a broker redelivery
    store.close()
    assert outcome.duplicates == 2 and outcome.window_ids == []
    # Written once: the redelivery did not append its bytes again.
    assert size == sum(len(w.payload) for w in windows) == sum(
        segment_path(raw_dir_of(path), s).stat().st_size for s in list_segments(raw_dir_of(path)))
    for window_id, w in enumerate(windows, 1):
        payload, segment, offset, length, _ = refs(path, window_id)
        assert payload is None and segment is not None and length == len(w.payload)
        assert ResultStore(path).load_window(window_id).payload == w.payload


def test_a_store_made_before_segments_keeps_its_blobs_readable_and_new_windows_go_out(
        tmp_path):
    path = tmp_path / "gateway.db"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="0010_raw_segments")
    old = window(1)
    columns = list(old._fields)
    db.execute(f"INSERT INTO windows ({', '.join(columns)}) VALUES "
               f"({', '.join('?' for _ in columns)})", list(old))
    db.conn.commit()
    db.close()
    store = IntakeStore(path)  # migration 0010 at start; nothing is rewritten
    (new_id,) = store.write_batch([window(2)]).window_ids
    store.close()
    assert refs(path, 1)[0] == old.payload and refs(path, 1)[1] is None
    assert refs(path, new_id)[0] is None and refs(path, new_id)[1] is not None
    results = ResultStore(path)
    assert results.load_window(1).payload == old.payload
    assert results.load_window(new_id).payload == window(2).payload
    results.close()


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    assert store.write_batch([window(n) for n in range(3)]).window_ids == [1, 2, 3]
    store.close()
    return path


def _corrupt(path, window_id: int) -> None:
    _, segment, offset, _, _ = refs(path, window_id)
    file = segment_path(raw_dir_of(path), segment)
    data = bytearray(file.read_bytes())
    data[offset + 100] ^= 0xFF
    file.write_bytes(data)


def test_raw_bytes_that_fail_their_checksum_dead_letter_that_window_only(store_path):
    _corrupt(store_path, 2)
    scorer = Scorer()
    worker = analyser(store_path, scorer)
    assert [worker.handle(n) for n in (1, 2, 3)] == [None, None, None]
    worker.close()
    (ref, attempts, error), = rows(store_path, "SELECT ref, attempts, error FROM dead_letters")
    assert (ref, attempts) == ("2", 1) and error.startswith("RawUnreadable") \
        and "checksum" in error
    assert rows(store_path, "SELECT window_id FROM results ORDER BY 1") == [(1,), (3,)]
    assert scorer.calls == 2


def test_a_missing_segment_dead_letters_its_windows_without_a_stall(store_path):
    for segment in list_segments(raw_dir_of(store_path)):
        segment_path(raw_dir_of(store_path), segment).unlink()
    worker = analyser(store_path, Scorer())
    assert [worker.handle(n) for n in (1, 2, 3)] == [None, None, None]
    worker.close()
    errors = rows(store_path, "SELECT error FROM dead_letters ORDER BY ref")
    assert len(errors) == 3 and all("missing" in e for e, in errors)


def test_a_read_finds_raw_that_retention_moved_meanwhile(store_path):
    results = ResultStore(store_path)
    row = refs(store_path, 1)
    payload = results.load_window(1).payload
    # Retention moves the raw into the row and deletes the segment (store/raw_upkeep.py).
    db = open_database(store_path)
    with db.conn:
        db.conn.execute("UPDATE windows SET payload = ?, raw_segment = NULL WHERE id = 1",
                        (payload,))
    db.close()
    segment_path(raw_dir_of(store_path), row[1]).unlink()
    assert window_raw(results.conn, raw_dir_of(store_path), 1, row) == payload
    results.close()

