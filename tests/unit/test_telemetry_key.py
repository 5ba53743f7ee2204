"""Migration 0009: telemetry's duplicate key is the box's time stamp then the digest
(records.telemetry_key), not the digest alone. A store of the schema before it, holding
rows (some still waiting for upload), migrates at start without a rewrite; what was stored
keeps its ids, a redelivery of a message stored before the migration is still a duplicate,
and new keys grow with the box's time."""

from __future__ import annotations

import json
import sqlite3

from sqlite_utils import Database

from gateway.config import IntakeSection, RetentionSection
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import STAMP_BYTES, Telemetry, content_digest, telemetry_key
from gateway.store.database import IntakeStore
from gateway.store.migrations import migrations
from gateway.store.outbox import read_batch
from gateway.store.record_ids import store_id_of
from gateway.store.retention import Retention

LIMITS = IntakeSection()
BEFORE_0009 = "0009_telemetry_time_ordered_key"
T0 = 1_732_350_000_000


def _message(n: int, timestamp: object = "box") -> Inbound:
    doc: dict = {"device_id": f"box-{n % 3}", "temperature": 20.0 + n}
    if timestamp == "box":
        doc["timestamp"] = (T0 + n * 1000) / 1000
    elif timestamp is not None:
        doc["timestamp"] = timestamp
    return Inbound(f"sensors/box-{n % 3}/telemetry", json.dumps(doc).encode(),
                   received_at_ms=T0 + n * 1000 + 7)


def _telemetry(msg: Inbound) -> Telemetry:
    record = parse_message(msg, "sensors", LIMITS)
    assert isinstance(record, Telemetry), record
    return record


# What the intake wrote before 0009 (gateway/store/database.py of that schema): the row, and
# its outbox copy in the same transaction.
_OLD_ROW = ("INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, data, seq, "
            "ts_flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_OLD_COPY = ("INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
             "SELECT 'telemetry', device_id, ts_ms, received_at_ms, data FROM telemetry "
             "WHERE id = ?")


def _store_before_0009(path, messages: list[Inbound], uploaded: int) -> None:
    """A store of the previous schema holding `messages`, the first `uploaded` of them
    already accepted by the cloud (their outbox copies gone)."""
    conn = sqlite3.connect(path)
    old = Database(conn)
    old.execute("PRAGMA page_size = 1024")
    old.enable_wal()
    migrations.apply(old, stop_before=BEFORE_0009)
    assert BEFORE_0009 not in {m.name for m in migrations.applied(old)}
    with conn:
        for msg in messages:
            r = _telemetry(msg)
            bare = content_digest(msg.topic, msg.payload)  # the old key
            row_id = conn.execute(_OLD_ROW, (r.device_id, r.topic, r.ts_ms, r.received_at_ms,
                                             bare, r.data, r.seq, r.ts_flag)).lastrowid
            conn.execute(_OLD_COPY, (row_id,))
        conn.execute("DELETE FROM outbox WHERE seq <= ?", (uploaded,))
    conn.close()


def test_an_old_store_migrates_keeping_rows_ids_and_duplicates(tmp_path):
    path = tmp_path / "gateway.db"
    messages = [_message(n) for n in range(20)] + [
        _message(20, timestamp=None),  # no time stamp: key prefix 0
        _message(21, timestamp=1e300),  # unusable: stored with its receipt time, prefix 0
        _message(22, timestamp=12.5),  # before 2000: still the box's own time
    ]
    _store_before_0009(path, messages, uploaded=15)
    conn = sqlite3.connect(path)
    rows_before = conn.execute("SELECT * FROM telemetry ORDER BY id").fetchall()
    outbox_before = conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
    conn.close()

    store = IntakeStore(path)  # migrates at start: nothing rewritten
    db = store.db
    assert db.execute("SELECT * FROM telemetry ORDER BY id").fetchall() == rows_before
    assert db.execute("SELECT * FROM outbox ORDER BY seq").fetchall() == outbox_before

    # Every message stored before the migration, redelivered after it: stored once, alone
    # in a batch and among new ones.
    again = store.write_batch([_telemetry(m) for m in messages])
    assert again.duplicates == len(messages) and not again.stored.get("telemetry:received")
    new = [_message(n) for n in range(30, 33)]
    mixed = store.write_batch([_telemetry(m) for m in messages[:5] + new])
    assert mixed.duplicates == 5
    assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == len(messages) + 3
    assert store.write_batch([_telemetry(m) for m in new]).duplicates == 3
    # numbered ones (seq: the sequence tracker's insert) too
    numbered = Inbound(messages[0].topic, messages[0].payload[:-1] + b', "seq": 4}', T0)
    assert store.write_batch([_telemetry(numbered)]).duplicates == 0
    assert store.write_batch([_telemetry(numbered)]).duplicates == 1

    # The ones waiting for upload still go, under the ids they had.
    store_id = store_id_of(db.conn)
    pieces = [json.loads(p) for p in read_batch(db.conn, store_id, 1000, 10**7).pieces]
    assert [p["id"] for p in pieces[:8]] == [f"{store_id}-{seq}" for seq in range(16, 24)]
    # and retention still keeps their rows (the first pending one is row 16)
    retention = Retention(RetentionSection(), tmp_path, path)
    assert retention._telemetry_params()["copies_kept_from"] == 16
    retention.close()
    store.close()


def test_the_bare_digest_look_up_ends_with_the_last_old_row(tmp_path):
    path = tmp_path / "gateway.db"
    _store_before_0009(path, [_message(n) for n in range(3)], uploaded=3)
    store = IntakeStore(path)
    assert store.bare_digests_to == 3
    store.write_batch([_telemetry(_message(9))])
    assert store.bare_digests_to == 3  # old rows remain: still looked up
    store.db.execute("DELETE FROM telemetry WHERE id <= 3")  # as retention does, in the end
    store.db.conn.commit()
    store.write_batch([_telemetry(_message(10))])
    assert store.bare_digests_to == 0
    store.close()


def test_a_new_message_after_the_migration_is_stored_once(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    records = [_telemetry(_message(n)) for n in range(5)]
    first = store.write_batch(records)
    again = store.write_batch(records)  # a broker redelivery
    assert first.duplicates == 0 and again.duplicates == 5
    # The same payload on another topic is another message.
    moved = records[0]._replace(topic="sensors/box-9/telemetry")
    other = parse_message(Inbound(moved.topic, _message(0).payload.replace(b"box-0", b"box-9"),
                                  T0), "sensors", LIMITS)
    assert store.write_batch([other]).duplicates == 0
    store.close()


def test_the_key_starts_with_the_box_time_stamp_in_order():
    keys = [_telemetry(_message(n)).digest for n in range(5)]
    assert keys == sorted(keys) and len(set(keys)) == 5
    assert keys[0][:STAMP_BYTES] == telemetry_key(T0, b"")
    early, late = telemetry_key(-5, b"\xff"), telemetry_key(3, b"\x00")  # before 1970 too
    assert early < telemetry_key(0, b"") < late
    # a payload without a time stamp is keyed 0, received whenever
    assert _telemetry(_message(20, timestamp=None)).digest[:STAMP_BYTES] == \
        telemetry_key(0, b"")
