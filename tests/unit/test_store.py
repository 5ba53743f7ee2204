"""The intake store on a real SQLite file: what a batch stores, and what it leaves in memory."""

from __future__ import annotations

import ctypes
import sqlite3
from pathlib import Path

import pytest

from gateway.records import Rejection, Telemetry, Window, content_digest
from gateway.store.database import (
    CACHE_KIB,
    INTAKE_CACHE_KIB,
    PAGE_SIZE,
    REJECTED_BYTES,
    IntakeStore,
    open_database,
)
from gateway.store.outbox import pending_records

KIB = 1024


def _sqlite_memory_used():
    """SQLite's own count of the bytes it holds, from the very library Python's sqlite3 uses
    (a second copy of the library would count only its own)."""
    maps = Path("/proc/self/maps").read_text().split()
    paths = {p for p in maps if "libsqlite3.so" in p}
    if len(paths) != 1:
        pytest.skip("Python's sqlite3 is not linked to a shared libsqlite3 here")
    func = ctypes.CDLL(paths.pop()).sqlite3_memory_used
    func.restype = ctypes.c_int64
    return func


def _windows(count: int, start: int, size: int) -> list[Window]:
    windows = []
    for n in range(start, start + count):
        topic, payload = "sensors/box-1/audio", n.to_bytes(4, "little") * (size // 4)
        windows.append(Window("box-1", "audio", "mqtt", topic, n, n, 16000.0, 1, size // 2,
                              size / 32000, "pcm16", content_digest(topic, payload), payload))
    return windows


def test_window_batches_of_many_sizes_leave_no_copies_of_audio_in_sqlite(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    memory_used = _sqlite_memory_used()
    before = memory_used()
    assert before > 0  # the count comes from the library the store uses
    start = 0
    # Batch sizes vary as they do under load: each new size was a new cached statement that
    # kept its last bound blobs (here it would hold 8 MB of audio, and grow with each size).
    for count in (37, 51, 13, 29, 7, 42):
        ids = store.write_batch(_windows(count, start, 48 * KIB)).window_ids
        assert len(ids) == count
        start += count
    grown = memory_used() - before
    assert grown < 3 * 1024 * KIB, f"SQLite holds {grown / KIB / 1024:.1f} MB more after writing"
    store.close()


def test_a_batch_stores_windows_and_telemetry_once_each(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    windows = _windows(3, 0, 4 * KIB)
    telemetry = [Telemetry("box-1", "sensors/box-1/telemetry", n, n,
                           content_digest("sensors/box-1/telemetry", bytes([n])), "{}")
                 for n in range(5)]
    first = store.write_batch(windows + telemetry)
    again = store.write_batch(windows + telemetry)  # a broker redelivery after a crash
    assert first.stored == {"received_audio": 3, "received_telemetry": 5}
    assert len(first.window_ids) == 3 and first.duplicates == 0
    assert again.duplicates == 8 and again.window_ids == []
    conn = store.db.conn
    assert conn.execute("SELECT count(*) FROM windows").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 5
    # each once for the cloud too: the rows themselves wait, with no outbox copy
    assert pending_records(conn) == 5
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    store.close()


def test_only_the_intake_writer_keeps_a_large_page_cache(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    reader = open_database(tmp_path / "gateway.db")
    cache_kib = {name: -db.execute("PRAGMA cache_size").fetchone()[0]
                 for name, db in (("intake", store.db), ("other", reader))}
    assert cache_kib == {"intake": INTAKE_CACHE_KIB, "other": CACHE_KIB}
    assert CACHE_KIB < INTAKE_CACHE_KIB
    reader.close()
    store.close()


# --- what is kept of rejections (issue 12.10) ----------------------------------------------------


def _rejections(count: int, topic_chars: int, sample: int = 16, detail: str = "bad") -> list:
    out = []
    for n in range(count):
        topic = f"sensors/{'x' * topic_chars}{n}/audio"
        out.append(Rejection(topic, n, "not_wav", detail, 60_000, b"s" * sample,
                             content_digest(topic, str(n).encode())))
    return out


def _rejected_bytes(store: IntakeStore) -> tuple[int, int]:
    return store.db.conn.execute("SELECT count(*), sum(length(CAST(topic AS BLOB)) + "
                                 "length(CAST(detail AS BLOB)) + length(sample)) "
                                 "FROM rejected").fetchone()


def test_rejections_keep_a_bounded_topic_and_detail(tmp_path):
    # Before: 2,000 messages with 60 KB topics kept 115 MB of rejections.
    store = IntakeStore(tmp_path / "gateway.db", rejected_keep=10_000)
    for start in range(0, 2000, 500):
        store.write_batch([r._replace(digest=content_digest(r.topic, str(start + i).encode()))
                           for i, r in enumerate(_rejections(500, 60_000, detail="d" * 5000))])
    rows, size = _rejected_bytes(store)
    assert rows == 2000 and size < 2000 * 1024
    topic, detail = store.db.conn.execute("SELECT topic, detail FROM rejected LIMIT 1").fetchone()
    assert len(topic) <= 256 and topic.startswith("sensors/xxx") and topic.endswith("/audio")
    assert len(detail) <= 500
    counters = dict(store.db.conn.execute("SELECT name, value FROM counters"))
    assert counters["rejected:audio:not_wav"] == 2000  # the stream still counted from the topic
    store.close()


def test_the_rejections_kept_are_bounded_in_bytes_too(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db", rejected_keep=10_000,
                        rejected_sample_bytes=65_536)
    for start in range(0, 1500, 100):
        store.write_batch([r._replace(digest=content_digest(r.topic, str(start + i).encode()))
                           for i, r in enumerate(_rejections(100, 10, sample=65_536))])
    rows, size = _rejected_bytes(store)
    assert size <= REJECTED_BYTES and rows < 1500
    store.close()


def test_a_new_store_gets_the_page_size_and_an_existing_one_keeps_its_own(tmp_path):
    new = open_database(tmp_path / "new.db")
    assert new.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    new.close()
    other = 8192 if PAGE_SIZE != 8192 else 4096
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute(f"PRAGMA page_size = {other}")
    conn.execute("CREATE TABLE t (x)")  # the file exists: its page size is fixed
    conn.close()
    old = open_database(tmp_path / "old.db")  # migrated, not rebuilt
    assert old.execute("PRAGMA page_size").fetchone()[0] == other
    assert old.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "telemetry" in old.table_names()
    old.close()
