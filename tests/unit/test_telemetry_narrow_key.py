"""Migration 0013: new telemetry keys keep 16 bytes of the content digest after the box's time
stamp (records.telemetry_key), where they kept all 32. A store of the schema before it, holding
rows (some still waiting for upload), migrates at start without a rewrite; what was stored
keeps its keys and ids, and a redelivery of a message stored before is still a duplicate."""

from __future__ import annotations

import hashlib
import json
import sqlite3

from sqlite_utils import Database

from gateway.config import IntakeSection
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import KEY_DIGEST_BYTES, STAMP_BYTES, Telemetry, content_digest
from gateway.store.database import IntakeStore, _telemetry_inserts
from gateway.store.migrations import migrations
from gateway.store.outbox import MARK, read_batch
from gateway.store.record_ids import advance_seq, last_seq, store_id_of

LIMITS = IntakeSection()
BEFORE_0013 = "0013_telemetry_narrow_key"
T0 = 1_732_350_000_000
KEY_BYTES = STAMP_BYTES + KEY_DIGEST_BYTES


def _message(n: int) -> Inbound:
    doc = {"device_id": f"box-{n % 3}", "timestamp": (T0 + n * 1000) / 1000,
           "temperature": 20.0 + n}
    return Inbound(f"sensors/box-{n % 3}/telemetry", json.dumps(doc).encode(),
                   received_at_ms=T0 + n * 1000 + 7)


def _telemetry(msg: Inbound) -> Telemetry:
    record = parse_message(msg, "sensors", LIMITS)
    assert isinstance(record, Telemetry), record
    return record


def _wide_key(msg: Inbound) -> bytes:
    """The key as the intake wrote it from 0009 to 0013: the stamp, then the whole digest."""
    stamp = _telemetry(msg).digest[:STAMP_BYTES]
    return stamp + content_digest(msg.topic, msg.payload)


def _store_before_0013(path, messages: list[Inbound], uploaded: int) -> None:
    """A store of the previous schema holding `messages` as its intake wrote them (row ids
    from the records' sequence), the first `uploaded` accepted by the cloud."""
    conn = sqlite3.connect(path)
    old = Database(conn)
    old.execute("PRAGMA page_size = 1024")
    old.enable_wal()
    migrations.apply(old, stop_before=BEFORE_0013)
    assert BEFORE_0013 not in {m.name for m in migrations.applied(old)}
    with conn:
        for msg in messages:
            r = _telemetry(msg)
            seq = last_seq(conn) + 1
            conn.execute("INSERT INTO telemetry (id, device_id, topic, ts_ms, received_at_ms, "
                         "digest, data, seq, ts_flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (seq, r.device_id, r.topic, r.ts_ms, r.received_at_ms, _wide_key(msg),
                          r.data, r.seq, r.ts_flag))
            advance_seq(conn, seq)
        conn.execute("UPDATE sync_state SET value = ? WHERE key = ?", (str(uploaded), MARK))
    conn.close()


def test_an_old_store_migrates_keeping_its_keys_ids_and_duplicates(tmp_path):
    path = tmp_path / "gateway.db"
    messages = [_message(n) for n in range(20)]
    _store_before_0013(path, messages, uploaded=12)
    conn = sqlite3.connect(path)
    rows_before = conn.execute("SELECT * FROM telemetry ORDER BY id").fetchall()
    conn.close()

    store = IntakeStore(path)  # migrates at start: nothing rewritten
    db = store.db
    assert db.execute("SELECT * FROM telemetry ORDER BY id").fetchall() == rows_before
    assert store.wide_keys_to == 20

    # Every message stored before the migration, redelivered after it: stored once, alone
    # in a batch and among new ones.
    assert store.write_batch([_telemetry(m) for m in messages]).duplicates == len(messages)
    new = [_message(n) for n in range(30, 33)]
    mixed = store.write_batch([_telemetry(m) for m in messages[:5] + new])
    assert mixed.duplicates == 5
    assert store.write_batch([_telemetry(m) for m in new]).duplicates == 3
    # numbered ones (seq: the sequence tracker's insert) too
    numbered = Inbound(messages[0].topic, messages[0].payload[:-1] + b', "seq": 4}', T0)
    assert store.write_batch([_telemetry(numbered)]).duplicates == 0
    assert store.write_batch([_telemetry(numbered)]).duplicates == 1

    # New keys are the narrow ones, old rows keep theirs.
    widths = dict(db.execute("SELECT id > 20, group_concat(DISTINCT length(digest)) "
                             "FROM telemetry GROUP BY id > 20").fetchall())
    assert widths == {0: str(STAMP_BYTES + 32), 1: str(KEY_BYTES)}
    # The ones waiting for upload still go, under the ids they had, then the new ones.
    store_id = store_id_of(db.conn)
    pieces = [json.loads(p) for p in read_batch(db.conn, store_id, 1000, 10**7).pieces]
    waiting = [f"{store_id}-{seq}" for seq in range(13, 21)]
    assert [p["id"] for p in pieces[:8]] == waiting
    assert [p["data"] for p in pieces[:8]] == [json.loads(m.payload) for m in messages[12:]]
    new_ids = [int(p["id"].split("-")[-1]) for p in pieces[8:]]
    assert len(new_ids) == 4 and new_ids == sorted(new_ids) and new_ids[0] > 20
    store.close()


def test_a_redelivered_old_numbered_message_is_a_duplicate(tmp_path):
    path = tmp_path / "gateway.db"
    numbered = Inbound("sensors/box-1/telemetry",
                       json.dumps({"timestamp": T0 / 1000, "seq": 4, "t": 1}).encode(), T0)
    _store_before_0013(path, [numbered], uploaded=0)
    store = IntakeStore(path)
    assert store.write_batch([_telemetry(numbered)]).duplicates == 1
    store.close()


def test_the_old_key_look_up_reads_the_key_index_and_ends_with_the_last_old_row(tmp_path):
    path = tmp_path / "gateway.db"
    _store_before_0013(path, [_message(n) for n in range(3)], uploaded=3)
    store = IntakeStore(path)
    insert = _telemetry_inserts(False, True)["received_telemetry"]
    plan = " ".join(row[-1] for row in store.db.execute(
        "EXPLAIN QUERY PLAN " + insert.sql(1), (0,) + tuple(_telemetry(_message(9)))))
    assert "sqlite_autoindex_telemetry_1 (digest>? AND digest<?)" in plan, plan
    assert "SCAN t" not in plan
    store.write_batch([_telemetry(_message(9))])
    assert store.wide_keys_to == 3  # old rows remain: still looked up
    store.db.execute("DELETE FROM telemetry WHERE id <= 3")  # as retention does, in the end
    store.db.conn.commit()
    store.write_batch([_telemetry(_message(10))])
    assert store.wide_keys_to == 0
    store.close()


def test_new_keys_keep_sixteen_bytes_of_the_digest_and_a_redelivery_is_a_duplicate(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    msg = _message(1)
    record = _telemetry(msg)
    assert record.digest[STAMP_BYTES:] == \
        hashlib.sha256(b"sensors/box-1/telemetry\0\0" + msg.payload).digest()[:16]
    assert store.write_batch([record]).duplicates == 0
    assert store.write_batch([_telemetry(msg)]).duplicates == 1
    store.close()
