"""Hostile input: no message may deafen the gateway (issue 12).

Each test here was written against an attack that worked on an earlier version; the ones
about the daemon go through the real broker and the real `gateway run`.
"""

from __future__ import annotations

import json
import sqlite3
import threading

from gateway.config import IntakeSection
from gateway.intake.payloads import Inbound, parse_message
from gateway.intake.writer import UNSTORABLE, IntakeWriter
from gateway.records import Rejection, Telemetry, content_digest
from gateway.store.database import IntakeStore
from gateway.store.group_commit import commit_until_done
from tests.support import GatewayProcess, store_rows, wait_for

LONE_SURROGATE = b'{"timestamp":"\\ud800"}'  # valid JSON; its text cannot be encoded as UTF-8


def _telemetry(n: int) -> Telemetry:
    topic = "sensors/box-1/telemetry"
    data = json.dumps({"n": n})
    return Telemetry("box-1", topic, n, n, content_digest(topic, data.encode()), data)


def test_a_rejection_of_a_lone_surrogate_can_be_stored(tmp_path):
    record = parse_message(Inbound("sensors/box-1/telemetry", LONE_SURROGATE, 1_700_000_000_000),
                           "sensors", IntakeSection())
    assert isinstance(record, Rejection) and record.reason == "bad_timestamp"
    record.detail.encode("utf-8")  # raised UnicodeEncodeError: the store could not bind it
    store = IntakeStore(tmp_path / "gateway.db")
    assert store.write_batch([record]).stored == {"rejected": 1}
    store.close()


def _writer(tmp_path) -> tuple[IntakeWriter, IntakeStore]:
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=50))
    writer.start()
    return writer, store


def test_a_record_the_store_refuses_costs_that_record_and_not_the_batch(tmp_path):
    writer, store = _writer(tmp_path)
    acked: list[str] = []
    poison = Rejection("sensors/box-1/telemetry", 1, "bad_timestamp", "ts \ud800 is wrong", 22,
                       b"x", content_digest("poison", b""))
    records = [_telemetry(1), poison, _telemetry(2), _telemetry(3)]
    for n, record in enumerate(records):
        writer.submit(record, lambda n=n: acked.append(n))
    wait_for(lambda: len(acked) == 4, timeout_s=10, what="every record acknowledged")
    writer.stop()
    store.close()
    rows = store_rows(tmp_path, "SELECT count(*) FROM telemetry")
    assert rows == [(3,)]
    kept = store_rows(tmp_path, "SELECT topic, reason, detail FROM rejected")
    assert len(kept) == 1 and kept[0][1] == UNSTORABLE
    assert "UnicodeEncodeError" in kept[0][2]
    counters = dict(store_rows(tmp_path, "SELECT name, value FROM counters"))
    assert counters["received_telemetry"] == 3
    assert counters[f"rejected:telemetry:{UNSTORABLE}"] == 1


def test_a_telemetry_record_that_cannot_be_encoded_is_kept_aside_with_its_text(tmp_path):
    writer, store = _writer(tmp_path)
    done = threading.Event()
    topic = "sensors/box-1/telemetry"
    bad = Telemetry("box-1", topic, 5, 5, content_digest(topic, b"bad"), '{"a":"\ud800"}')
    writer.submit(bad, done.set)
    assert done.wait(10)
    writer.stop()
    store.close()
    (sample,) = store_rows(tmp_path, "SELECT sample FROM rejected WHERE reason = ?",
                           (UNSTORABLE,))[0]
    assert sample == b'{"a":"\\ud800"}'


def test_a_failure_of_the_database_is_retried_not_blamed_on_a_record(tmp_path):
    writer, store = _writer(tmp_path)
    # Another connection holds the write lock: the batch fails with "database is locked"
    # (after a shortened busy timeout) until the lock is released; nothing is set aside.
    store.db.conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(tmp_path / "gateway.db")
    blocker.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    writer.submit(_telemetry(1), done.set)
    wait_for(lambda: writer.stats.commit_failures >= 2, timeout_s=10, what="a retried commit")
    assert not done.is_set()
    blocker.rollback()
    blocker.close()
    assert done.wait(10)
    writer.stop()
    store.close()
    assert store_rows(tmp_path, "SELECT count(*) FROM rejected") == [(0,)]
    assert store_rows(tmp_path, "SELECT count(*) FROM telemetry") == [(1,)]


def test_one_poison_message_does_not_deafen_the_daemon(tmp_path, gateway_config, broker,
                                                        publisher):
    process = GatewayProcess(gateway_config, tmp_path / "gateway.log").start()
    try:
        publisher.publish("sensors/box-1/telemetry", LONE_SURROGATE).wait_for_publish(10)
        publisher.publish_all([("sensors/box-1/telemetry", json.dumps({"n": n}))
                               for n in range(50)])
        data_dir = tmp_path / "data"
        wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(50,)],
                 timeout_s=20, what="the 50 valid messages stored")
        reasons = store_rows(data_dir, "SELECT reason FROM rejected")
        assert reasons == [("bad_timestamp",)]
        process.terminate()
        # After a restart nothing is redelivered: the poison was acknowledged once stored.
        process.start()
        publisher.publish("sensors/box-1/telemetry", json.dumps({"n": 50})).wait_for_publish(10)
        wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(51,)],
                 timeout_s=20, what="a message after the restart stored")
        assert "Logging error" not in process.log_text(since_start=False)
    finally:
        process.ensure_stopped()


def test_a_set_aside_that_fails_too_is_retried_as_the_databases_fault():
    attempts = {"aside": 0}
    failures: list[float] = []

    def commit(part):
        if "bad" in part:
            raise ValueError("refused")
        if "aside" in part:
            attempts["aside"] += 1
            if attempts["aside"] < 3:  # the replacement is refused too, twice
                raise ValueError("still refused")
        return list(part)

    committed = commit_until_done(["a", "bad", "b", "c"], commit,
                                  lambda error, delay: failures.append(delay),
                                  lambda item, error: "aside")
    assert [item for part, _ in committed for item in part] == ["a", "aside", "b", "c"]
    assert len(failures) == 2  # backed off, not split or replaced again
