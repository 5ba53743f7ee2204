"""Telemetry uploaded from its own table (migration 0011): a message is written once, its row
id is its record's seq (one sequence with results, alerts and the gateway's own records),
and the uploader's watermark says which rows the cloud has settled. Real store, the real
uploader and the reference receiver on 127.0.0.1; a store of the previous schema upgraded
with copies waiting, accepted and refused."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_utils import Database

from gateway.config import RetentionSection, SyncSection
from gateway.delivery.uplink import Uplink
from gateway.devtools.receiver.server import serve
from gateway.records import Telemetry, content_digest
from gateway.store.database import IntakeStore, open_database
from gateway.store.dead_letters import take_back
from gateway.store.migrations import migrations
from gateway.store.outbox import MARK, pending_records, read_sync_status, telemetry_mark
from gateway.store.read_model import read_overview
from gateway.store.record_ids import store_id_of
from gateway.store.retention import Retention
from tests.support import REPO

TOKEN = "tok-telemetry-upload"
GATEWAY = "gw-tel"
T0 = 1_732_350_000_000
DAY = 86_400_000
BEFORE_0011 = "0011_telemetry_uploaded_from_its_table"


@pytest.fixture
def receiver():
    server = serve(token=TOKEN)
    yield server
    server.stop()


def telemetry(n: int, device: str = "box-1", note: str = "", seq: int | None = None,
              at: int = T0) -> Telemetry:
    topic = f"sensors/{device}/telemetry"
    doc = {"device_id": device, "n": n, "note": note}
    if seq is not None:
        doc["seq"] = seq
    data = json.dumps(doc)
    return Telemetry(device, topic, at + n, at + n, content_digest(topic, data.encode()), data,
                     seq)


def add_result(conn: sqlite3.Connection, n: int) -> int:
    """An outbox record as the result writer makes it (AUTOINCREMENT); its seq."""
    with conn:
        return conn.execute("INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
                            "VALUES ('result', 'box-1', ?, ?, ?) RETURNING seq",
                            (T0 + n, T0 + n, json.dumps({"n": n}))).fetchone()[0]


def uplink_for(receiver, store: Path, **overrides) -> Uplink:
    values = dict(url=receiver.url, token=TOKEN, interval_s=1.0, backoff_max_s=1.0,
                  connect_timeout_s=1.0, read_timeout_s=5.0, batch_records=100)
    values.update(overrides)
    return Uplink(SyncSection(**values), GATEWAY, store, backoff_base_s=0.02)


def drain(receiver, store: Path, **overrides) -> None:
    uplink = uplink_for(receiver, store, **overrides)
    try:
        while uplink.run_once().remaining:
            pass
    finally:
        uplink.stop()


def sent_ids(receiver) -> list[str]:
    return [i for entry in receiver.requests for i in entry.ids]


def test_telemetry_rows_take_seqs_from_the_records_sequence(tmp_path, receiver):
    store = IntakeStore(tmp_path / "gateway.db")
    conn = store.db.conn
    store_id = store_id_of(conn)
    store.write_batch([telemetry(n) for n in range(3)])
    result = add_result(conn, 10)
    # numbered telemetry with a gap: the gateway's own gap record goes into the outbox in
    # the same transaction, after the batch's rows took their seqs
    store.write_batch([telemetry(n, device="box-2", seq=n * 2) for n in range(3, 5)])
    last = add_result(conn, 11)
    ids = [r[0] for r in conn.execute("SELECT id FROM telemetry ORDER BY id")]
    outbox = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert ids[:3] == [1, 2, 3] and result == 4 and ids[3:] == [5, 6]
    gap_seq = outbox[1]
    assert conn.execute("SELECT kind FROM outbox WHERE seq = ?", (gap_seq,)).fetchone() == \
        ("telemetry",) and gap_seq == 7 and last == 8
    assert not set(ids) & set(outbox)  # every record's seq is its own
    assert pending_records(conn) == 8
    # a redelivery takes no number: the next record is still the next seq
    assert store.write_batch([telemetry(0)]).duplicates == 1
    assert add_result(conn, 12) == 9
    store.close()

    drain(receiver, tmp_path / "gateway.db", batch_records=3)
    expected = [f"{store_id}-{seq}" for seq in range(1, 10)]
    assert sent_ids(receiver) == expected  # oldest first across kinds, each once
    assert sorted(receiver.records) == expected
    reader = open_database(tmp_path / "gateway.db", read_only=True)
    status = read_sync_status(reader.conn)
    assert status["pending_total"] == 0 and status["oldest_pending_age_ms"] is None
    assert read_overview(reader.conn).upload_backlog == 0
    assert telemetry_mark(reader.conn) == 6
    assert reader.execute("SELECT value FROM counters WHERE name = 'synced'").fetchone() == (9,)
    reader.close()


def test_status_counts_waiting_telemetry_by_kind(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    store.write_batch([telemetry(n) for n in range(4)])
    add_result(store.db.conn, 9)
    status = read_sync_status(store.db.conn, now=T0 + 1000)
    assert status["pending"] == {"result": 1, "alert": 0, "telemetry": 4}
    assert status["pending_total"] == 5 and read_overview(store.db.conn).upload_backlog == 5
    assert status["oldest_pending_age_ms"] == 1000  # the first row's receipt time
    store.close()


def test_a_refused_telemetry_record_is_set_aside_and_goes_again_under_its_id(tmp_path,
                                                                            receiver):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    store_id = store_id_of(store.db.conn)
    store.write_batch([telemetry(n, note="poison" if n == 5 else "") for n in range(12)])
    receiver.faults.set(poison='"poison"', poison_status=422)
    drain(receiver, path)
    bad = f"{store_id}-6"
    assert sorted(receiver.records) == sorted(f"{store_id}-{n}" for n in range(1, 13)
                                              if n != 6)
    conn = store.db.conn
    ((ref, error, payload),) = conn.execute(
        "SELECT ref, error, payload FROM dead_letters WHERE stage = 'sync'").fetchall()
    assert ref == bad and error.startswith("HTTP 422: ") and bad in error
    assert json.loads(payload)["data"]["note"] == "poison"
    assert telemetry_mark(conn) == 12 and pending_records(conn) == 0
    # while it is set aside, retention keeps its row (all others may go once old)
    retention = Retention(RetentionSection(synced_days=1), tmp_path, path)
    retention.run_once(T0 + 2 * DAY)
    kept = [r[0] for r in conn.execute("SELECT id FROM telemetry ORDER BY id")]
    assert kept == [6, 12]  # 12: the newest row always stays
    # fixed at the cloud; `gateway dlq retry` puts it back, it goes under the same id
    receiver.faults.clear()
    assert take_back(conn, None).records == 1
    assert pending_records(conn) == 1
    retention.run_once(T0 + 2 * DAY)  # waiting in the outbox: its row still stays
    assert [r[0] for r in conn.execute("SELECT id FROM telemetry ORDER BY id")] == [6, 12]
    drain(receiver, path)
    carrying = [e.status for e in receiver.requests if bad in e.ids]
    assert set(carrying[:-1]) == {422} and carrying[-1] == 200  # refused (halved), then sent
    assert receiver.requests[-1].ids == (bad,)
    assert pending_records(conn) == 0 and telemetry_mark(conn) == 12
    retention.run_once(T0 + 2 * DAY)
    assert [r[0] for r in conn.execute("SELECT id FROM telemetry ORDER BY id")] == [12]
    retention.close()
    store.close()


def test_with_no_cloud_no_telemetry_is_deleted(tmp_path):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    store.write_batch([telemetry(n) for n in range(20)])
    retention = Retention(RetentionSection(synced_days=1), tmp_path, path)
    retention.run_once(T0 + 400 * DAY)
    assert store.db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 20
    retention.close()
    store.close()


# --- a crash between the cloud's 2xx and the watermark's commit -------------------------------

# The uploader, killed (SIGKILL) inside the transaction that records the cloud's acceptance,
# after the POST came back 2xx: the acceptance is never committed.
KILLED_AT_ACCEPT = """
import os, signal, sys
from pathlib import Path
from gateway.config import SyncSection
from gateway.delivery.uplink import Uplink
from gateway.store import outbox
from gateway.store.outbox import Outbox
accepted = Outbox.accept
def accept(self, batch):
    if int(sys.argv[4]) <= 0:
        real = self._past
        def past(batch):
            passed = real(batch)
            os.kill(os.getpid(), signal.SIGKILL)  # the watermark written, not committed
            return passed
        self._past = past
    sys.argv[4] = str(int(sys.argv[4]) - 1)
    accepted(self, batch)
Outbox.accept = accept
sync = SyncSection(url=sys.argv[1], token=sys.argv[2], batch_records=10)
uplink = Uplink(sync, "gw-tel", Path(sys.argv[3]))
while uplink.run_once().remaining:
    pass
"""


def test_a_kill_between_the_2xx_and_the_watermark_resends_the_batch_under_its_ids(tmp_path,
                                                                                  receiver):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    store_id = store_id_of(store.db.conn)
    store.write_batch([telemetry(n) for n in range(25)])
    store.close()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_ACCEPT, receiver.url, TOKEN,
                             str(path), "1"], cwd=REPO, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    before = receiver.requests
    assert [len(e.ids) for e in before] == [10, 10] and len(receiver.records) == 20
    reader = open_database(path, read_only=True)
    assert telemetry_mark(reader.conn) == 10  # the second batch's acceptance was lost
    reader.close()
    drain(receiver, path, batch_records=10)
    after = receiver.requests[len(before):]
    assert after[0].batch_id == before[1].batch_id and after[0].ids == before[1].ids
    assert after[0].replayed  # the receiver had it: stored once
    assert sorted(receiver.records) == sorted(f"{store_id}-{n}" for n in range(1, 26))
    reader = open_database(path, read_only=True)
    assert pending_records(reader.conn) == 0 and telemetry_mark(reader.conn) == 25
    reader.close()


# --- upgrading a store of the previous schema ---------------------------------------------

# What the intake wrote before 0011 (store/database.py of that schema): the row, and its
# outbox copy in the same transaction.
_OLD_ROW = ("INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, data, seq, "
            "ts_flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_OLD_COPY = ("INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
             "SELECT 'telemetry', device_id, ts_ms, received_at_ms, data FROM telemetry "
             "WHERE id = ?")


def store_before_0011(path: Path, count: int, accepted: int, refused: int) -> str:
    """A store of the previous schema holding `count` telemetry messages, each with its
    outbox copy, and a result after every fifth; the first `accepted` copies accepted by
    the cloud, the one at `refused` (by seq) set aside as the uploader did it."""
    conn = sqlite3.connect(path)
    old = Database(conn)
    old.execute("PRAGMA page_size = 1024")
    old.enable_wal()
    migrations.apply(old, stop_before=BEFORE_0011)
    store_id = store_id_of(conn)
    with conn:
        for n in range(count):
            r = telemetry(n, at=T0 - 3 * DAY)
            (row_id,) = conn.execute(_OLD_ROW, (r.device_id, r.topic, r.ts_ms, r.received_at_ms,
                                                r.digest, r.data, r.seq, r.ts_flag)).fetchone()
            conn.execute(_OLD_COPY, (row_id,))
            if n % 5 == 4:
                conn.execute("INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
                             "VALUES ('result', 'box-1', ?, ?, '{}')", (T0, T0))
        conn.execute("DELETE FROM outbox WHERE seq <= ?", (accepted,))
        piece = json.dumps({"id": f"{store_id}-{refused}", "kind": "telemetry",
                            "device_id": "box-1", "ts": 0, "data": {"refused": True}})
        conn.execute("INSERT INTO dead_letters (stage, ref, error, attempts, created_at_ms, "
                     "payload) VALUES ('sync', ?, 'HTTP 422: no', 1, 0, ?)",
                     (f"{store_id}-{refused}", piece))
        conn.execute("DELETE FROM outbox WHERE seq = ?", (refused,))
    conn.close()
    return store_id


def test_an_upgraded_store_sends_its_waiting_copies_once_under_their_ids(tmp_path, receiver):
    path = tmp_path / "gateway.db"
    store_id = store_before_0011(path, count=40, accepted=12, refused=20)  # 48 seqs in all
    conn = sqlite3.connect(path)
    waiting = [f"{store_id}-{seq}" for (seq,) in conn.execute("SELECT seq FROM outbox")]
    rows_before = conn.execute("SELECT * FROM telemetry ORDER BY id").fetchall()
    conn.close()
    assert len(waiting) == 48 - 12 - 1

    store = IntakeStore(path)  # migrates at start
    conn = store.db.conn
    assert conn.execute("SELECT * FROM telemetry ORDER BY id").fetchall() == rows_before
    assert pending_records(conn) == len(waiting)  # the rows are not counted twice
    assert conn.execute("SELECT value FROM sync_state WHERE key = ?", (MARK,)).fetchone() == \
        ("40",)
    # the first waiting copy (seq 13) is row 11's: from it on, rows stay while copies wait
    assert conn.execute("SELECT value FROM meta WHERE key = 'telemetry_copies_kept_from'"
                        ).fetchone() == ("11",)
    new = store.write_batch([telemetry(n) for n in range(100, 103)])
    assert new.stored == {"received_telemetry": 3}
    new_ids = [f"{store_id}-{seq}" for seq in (49, 50, 51)]  # above every seq and row id
    retention = Retention(RetentionSection(synced_days=1), tmp_path, path)
    retention.run_once(T0)
    # rows 1-10 went (their copies accepted, 3 days old); the others' copies still wait
    assert conn.execute("SELECT min(id), count(*) FROM telemetry").fetchone() == (11, 33)

    drain(receiver, path, batch_records=7)
    assert sent_ids(receiver) == waiting + new_ids  # oldest first, each once
    assert f"{store_id}-20" not in receiver.records  # set aside: not sent again by itself
    assert pending_records(conn) == 0 and read_sync_status(conn)["dead_letters"] == 1
    retention.run_once(T0 + 2 * DAY)
    assert [r[0] for r in conn.execute("SELECT id FROM telemetry ORDER BY id")] == [51]
    # the old dead letter goes back under its id, once
    assert take_back(conn, None).records == 1
    drain(receiver, path)
    assert receiver.requests[-1].ids == (f"{store_id}-20",)
    assert len(receiver.records) == len(sent_ids(receiver)) == len(waiting) + 3 + 1
    retention.close()
    store.close()
