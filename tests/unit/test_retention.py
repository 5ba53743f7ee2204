"""Retention on a real store: age limits per class, the disk budget's order, the refusal of
raw intake (end to end through the intake writer), and a WAL that stays bounded."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gateway.config import IntakeSection, RetentionSection
from gateway.intake.writer import DISK_FULL, IntakeWriter
from gateway.records import Rejection, Telemetry, Window, content_digest
from gateway.store.database import IntakeStore, open_database
from gateway.store.outbox import Batch, Outbox, telemetry_mark
from gateway.store.record_ids import seq_of
from gateway.store.retention import MB, Retention, read_refusal
from gateway.store.segments import raw_dir_of, segment_bytes
from tests.support import fill_file_system, small_file_system

NOW = 1_800_000_000_000
DAY = 86_400_000
MINUTE = 60_000
KIB = 1024
BIG_DISK = 1 << 40


class Site:
    """A data dir with the intake's store, plus direct writes for what later stages do
    (results, alerts, dead letters) and for the cloud accepting outbox rows."""

    def __init__(self, data_dir: Path):
        self.dir = data_dir
        self.path = data_dir / "gateway.db"
        # Segments small beside the 1 MB budget, as the daemon makes them (roll_bytes_for).
        self.intake = IntakeStore(self.path, raw_segment_bytes=64 * KIB)
        self.conn = self.intake.db.conn
        self.store_id = self.conn.execute(
            "SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
        self._n = itertools.count(1)

    def close(self) -> None:
        self.intake.close()

    def window(self, age_ms: int, size: int = 48 * KIB, stream: str = "audio") -> int:
        n = next(self._n)
        topic, payload = f"sensors/box-1/{stream}", bytes([n % 251]) * size
        at = NOW - age_ms
        window = Window("box-1", stream, "mqtt", topic, at, at, 16000.0, 1, size // 2,
                        size / 32000, "pcm16", content_digest(topic, payload, str(n)), payload)
        (window_id,) = self.intake.write_batch([window]).window_ids
        return window_id

    def _outbox(self, kind: str, at: int) -> str:
        seq = self.conn.execute(
            "INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
            "VALUES (?, 'box-1', ?, ?, '{}') RETURNING seq", (kind, at, at)).fetchone()[0]
        return f"{self.store_id}-{seq}"

    def result(self, window_id: int, anomaly: int | None, age_ms: int = 0) -> str:
        """The analysis' result; its outbox copy stays until `accept`."""
        at = NOW - age_ms
        with self.conn:
            record_id = self._outbox("result", at)
            self.conn.execute(
                "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, "
                "score, threshold, anomaly, details, created_at_ms, published) "
                "VALUES (?, ?, 'box-1', 'audio', ?, 'm', 1.0, 2.0, ?, '{}', ?, 1)",
                (window_id, record_id, at, anomaly, at))
            self.conn.execute("INSERT INTO analysis (window_id, state, attempts, updated_at_ms) "
                              "VALUES (?, 'done', 1, ?)", (window_id, at))
        return record_id

    def alert(self, window_id: int, age_ms: int = 0) -> str:
        at = NOW - age_ms
        with self.conn:
            record_id = self._outbox("alert", at)
            self.conn.execute(
                "INSERT INTO alerts (record_id, device_id, stream, state, ts_ms, score, reason, "
                "window_id, created_at_ms, published) "
                "VALUES (?, 'box-1', 'audio', 'anomaly', ?, 9.0, 'r', ?, ?, 1)",
                (record_id, at, window_id, at))
        return record_id

    def dead(self, window_id: int) -> None:
        """The analysis gave the window up."""
        with self.conn:
            self.conn.execute("INSERT INTO analysis (window_id, state, attempts, updated_at_ms) "
                              "VALUES (?, 'dead', 3, ?)", (window_id, NOW))
            self.conn.execute("INSERT INTO dead_letters (stage, ref, error, attempts, "
                              "created_at_ms) VALUES ('inference', ?, 'e', 3, ?)",
                              (str(window_id), NOW))

    def telemetry(self, age_ms: int, size: int = 100) -> int:
        n = next(self._n)
        topic, at = "sensors/box-1/telemetry", NOW - age_ms
        data = json.dumps({"n": n, "pad": "x" * size})
        self.intake.write_batch([Telemetry("box-1", topic, at, at,
                                           content_digest(topic, data.encode()), data)])
        return self.conn.execute("SELECT max(id) FROM telemetry").fetchone()[0]

    def many_telemetry(self, count: int, size: int) -> set[int]:
        """Telemetry in one batch (one commit: a test stays fast)."""
        topic, at, first = "sensors/box-1/telemetry", NOW - MINUTE, next(self._n)
        data = [json.dumps({"n": first, "i": i, "pad": "x" * size}) for i in range(count)]
        self.intake.write_batch([Telemetry("box-1", topic, at, at,
                                           content_digest(topic, d.encode()), d) for d in data])
        return {r[0] for r in self.conn.execute("SELECT id FROM telemetry ORDER BY id DESC "
                                                "LIMIT ?", (count,))}

    def accept(self, record_id: str | None = None, telemetry_id: int | None = None) -> None:
        """The cloud accepted a record, the telemetry up to a row (the uploader sends it
        oldest first), or everything, given neither; settled as the uploader settles it."""
        uploader = Outbox(self.path)
        try:
            if record_id:
                uploader.accept(Batch([seq_of(record_id)], [b"{}"], [False]))
            elif telemetry_id:
                rows = [r[0] for r in self.conn.execute(
                    "SELECT id FROM telemetry WHERE id <= ? AND id > ? ORDER BY id",
                    (telemetry_id, telemetry_mark(self.conn)))]
                uploader.accept(Batch(rows, [b"{}"] * len(rows), [True] * len(rows)))
            else:
                while batch := uploader.read_batch(1000, 1 << 30):
                    uploader.accept(batch)
        finally:
            uploader.close()

    def refuse(self, telemetry_id: int) -> None:
        """The cloud refused the next telemetry row: set aside in the dead-letter list."""
        uploader = Outbox(self.path)
        try:
            uploader.dead_letter(Batch([telemetry_id], [b"{}"], [True]), "HTTP 422: no")
        finally:
            uploader.close()

    def raw(self) -> set[int]:
        return {r[0] for r in self.conn.execute(
            "SELECT id FROM windows WHERE payload IS NOT NULL OR raw_segment IS NOT NULL")}

    def ids(self, table: str, key: str = "id") -> set:
        return {r[0] for r in self.conn.execute(f"SELECT {key} FROM {table}")}

    def count(self, sql: str) -> int:
        return self.conn.execute(sql).fetchone()[0]


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path / "data")
    yield site
    site.close()


def retention(site: Site, free: int = BIG_DISK, keep_normal_raw_every: int = 1,
              **limits) -> Retention:
    section = RetentionSection(**{"disk_budget_mb": 1, "min_free_mb": 0, "raw_normal_days": 30.0,
                                  "raw_anomaly_days": 60.0, "synced_days": 90.0,
                                  "broker_store": "", **limits})
    # The file system's free space as given, plus what deleting raw segment files gave back.
    segments_at_start = segment_bytes(raw_dir_of(site.path))

    def free_bytes(path: Path) -> int:
        return free + max(0, segments_at_start - segment_bytes(raw_dir_of(site.path)))
    return Retention(section, site.dir, site.path, free_bytes=free_bytes,
                     keep_normal_raw_every=keep_normal_raw_every)


def oldest_first(cleared: set[int], in_age_order: list[int]) -> bool:
    """cleared is the oldest part of the list, and not all of it."""
    return 0 < len(cleared) < len(in_age_order) and \
        cleared == set(in_age_order[:len(cleared)])


# --- the disk budget -----------------------------------------------------------------------


def test_over_budget_normal_raw_goes_first_then_anomalous_then_intake_is_refused(site):
    # Normal and anomalous windows interleaved in time, ten minutes apart, oldest first.
    normal, anomalous, pending = [], [], set()
    for i in range(18):  # 52 KiB: over the 1 MB budget by a few windows at any page size
        window_id = site.window(age_ms=(60 - i) * 10 * MINUTE, size=52 * KIB)
        (anomalous if i % 4 == 0 else normal).append(window_id)
        record_id = site.result(window_id, anomaly=int(i % 4 == 0))
        if i < 17:
            site.accept(record_id)
        else:  # the newest result has not gone up yet
            pending.add(record_id)
    pending.add(site.alert(anomalous[-1], age_ms=MINUTE))
    unanalysed = [site.window(age_ms=MINUTE)]
    pending_telemetry = {site.telemetry(age_ms=MINUTE) for _ in range(5)}
    ret = retention(site)
    try:
        # 1. Over by a few windows: the oldest normal raw goes, no anomaly, no record.
        report = ret.run_once(NOW)
        cleared = set(normal + anomalous + unanalysed) - site.raw()
        assert report.used_before > MB >= 0.95 * MB >= report.used_after
        assert oldest_first(cleared, normal), cleared
        assert report.deleted == {"raw_normal": len(cleared)} and not report.raw_refused
        assert len(site.ids("results", "window_id")) == 18

        # 2. Many more anomalies: all normal raw is not enough; records the cloud has go,
        # then the oldest anomalous raw.
        anomalous += [site.window(age_ms=(20 - i) * MINUTE) for i in range(14)]
        for window_id in anomalous[-14:]:
            site.accept(site.result(window_id, anomaly=1, age_ms=0))
        report = ret.run_once(NOW)
        assert not set(normal) & site.raw()
        assert oldest_first(set(anomalous) - site.raw(), anomalous)
        assert report.deleted["results"] == len(normal) - 1 and not report.raw_refused
        assert set(unanalysed) <= site.raw()
        assert pending <= site.ids("results", "record_id") | site.ids("alerts", "record_id")

        # 3. Records the cloud has not accepted fill the budget: all raw that may go goes,
        # they all stay, raw intake is refused, and that is visible to another process.
        pending_telemetry |= site.many_telemetry(300, size=4 * KIB)
        report = ret.run_once(NOW)
        assert report.raw_refused and ret.raw_refused and report.used_after > MB
        assert site.raw() == set(unanalysed)
        assert site.ids("telemetry") == pending_telemetry
        assert pending <= site.ids("results", "record_id") | site.ids("alerts", "record_id")
        reader = open_database(site.path, read_only=True)
        refusal = read_refusal(reader.conn)
        reader.close()
        assert refusal["since_ms"] == NOW and "disk_budget_mb" in refusal["reason"]
        assert f"{len(pending_telemetry) + 2} records wait for the cloud" in refusal["reason"]
        restarted = retention(site)
        assert restarted.raw_refused
        restarted.close()

        # 4. The cloud accepts everything: its copies go, raw intake is accepted again.
        site.accept()
        report = ret.run_once(NOW + MINUTE)
        assert not report.raw_refused and not ret.raw_refused
        assert report.deleted["telemetry"] >= 300 and report.used_after <= 0.95 * MB
        assert read_refusal(site.conn) is None
        assert site.raw() == set(unanalysed)
    finally:
        ret.close()


def test_raw_waiting_for_analysis_goes_only_when_the_file_system_runs_short(site):
    normal = [site.window(age_ms=(20 - i) * MINUTE, size=256 * KIB) for i in range(2)]
    for window_id in normal:
        site.accept(site.result(window_id, anomaly=0))
    waiting = [site.window(age_ms=(10 - i) * MINUTE, size=256 * KIB) for i in range(8)]
    # The data dir is well within its budget; the file system has 9 MB free, 10 MB wanted.
    ret = retention(site, free=9 * MB, disk_budget_mb=16, min_free_mb=10)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.raw_refused  # deleting all normal raw was not enough
    assert not set(normal) & site.raw()
    assert oldest_first(set(waiting) - site.raw(), waiting)
    assert report.free_after >= 10.8 * MB  # min_free plus 5 % of the budget


def test_raw_waiting_for_analysis_stays_while_only_the_budget_is_exceeded(site):
    waiting = [site.window(age_ms=MINUTE * i) for i in range(30)]
    ret = retention(site)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.used_after > MB and report.raw_refused
    assert site.raw() == set(waiting)


# --- age limits ----------------------------------------------------------------------------


def test_age_limits_per_class(site):
    ages = {"raw_normal_days": 1.0, "raw_anomaly_days": 3.0, "synced_days": 5.0}
    w = {name: site.window(age_ms=int(days * DAY), size=KIB) for name, days in [
        ("normal_old", 2), ("normal_young", 0.5), ("learning_old", 2), ("anomaly_mid", 2),
        ("anomaly_old", 4), ("dead_mid", 2), ("dead_old", 4), ("waiting_old", 10),
        ("synced_old", 6), ("pending_old", 6), ("refused_old", 6), ("newest", 0)]}
    for name, anomaly, days in [("normal_old", 0, 2), ("normal_young", 0, 0.5),
                                ("learning_old", None, 2), ("anomaly_mid", 1, 2),
                                ("anomaly_old", 1, 4), ("synced_old", 0, 6),
                                ("pending_old", 0, 6), ("refused_old", 0, 6), ("newest", 0, 0)]:
        record_id = site.result(w[name], anomaly, age_ms=int(days * DAY))
        if name not in ("pending_old", "refused_old"):
            site.accept(record_id)
    refused = site.conn.execute("SELECT record_id FROM results WHERE window_id = ?",
                                (w["refused_old"],)).fetchone()[0]
    with site.conn:  # the cloud refused it: out of the outbox, into the dead letters
        site.accept(refused)
        site.conn.execute("INSERT INTO dead_letters (stage, ref, error, attempts, "
                          "created_at_ms, payload) VALUES ('sync', ?, '400', 1, 0, '{}')",
                          (refused,))
    site.dead(w["dead_mid"])
    site.dead(w["dead_old"])
    alerts = {"synced_old": site.alert(w["anomaly_old"], age_ms=6 * DAY),
              "pending_old": site.alert(w["anomaly_old"], age_ms=6 * DAY),
              "synced_young": site.alert(w["anomaly_mid"], age_ms=DAY)}
    site.accept(alerts["synced_old"])
    site.accept(alerts["synced_young"])
    t = {name: site.telemetry(age_ms=int(days * DAY)) for name, days in [
        ("synced_old", 7), ("refused_old", 6.8), ("pending_old", 6.5), ("young", 1)]}
    site.accept(telemetry_id=t["synced_old"])
    site.refuse(t["refused_old"])
    rejected = {}
    for name, days in [("old", 6), ("young", 1)]:
        topic, at = "sensors/box-1/audio", NOW - int(days * DAY)
        site.intake.write_batch([Rejection(topic, at, "not_wav", "d", 1, b"x",
                                           content_digest(topic, name.encode()))])
        rejected[name] = site.count("SELECT max(id) FROM rejected")

    ret = retention(site, disk_budget_mb=2048, **ages)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()

    raw = {name for name, window_id in w.items() if window_id in site.raw()}
    assert raw == {"normal_young", "anomaly_mid", "dead_mid", "waiting_old", "newest"}
    assert site.ids("results", "window_id") == {w[n] for n in (
        "normal_old", "normal_young", "learning_old", "anomaly_mid", "anomaly_old",
        "pending_old", "refused_old", "newest")}
    gone = {w["synced_old"]}  # its raw, its result and then its metadata and analysis row
    assert site.ids("windows") == set(w.values()) - gone
    assert site.ids("analysis", "window_id") == set(w.values()) - gone - {w["waiting_old"]}
    assert site.ids("alerts", "record_id") == {alerts["pending_old"], alerts["synced_young"]}
    # Under the uploader's watermark, a row the cloud refused stays like one not sent yet.
    assert site.ids("telemetry") == {t["refused_old"], t["pending_old"], t["young"]}
    assert site.ids("rejected") == {rejected["young"]}
    assert report.deleted == {"raw_normal": 5, "raw_anomaly": 1, "raw_dead": 1, "results": 1,
                              "windows": 1, "alerts": 1, "telemetry": 1, "rejected": 1}
    assert not report.raw_refused


# --- intake refusal, end to end ------------------------------------------------------------


def submit_all(site: Site, ret: Retention, records: list) -> list[int]:
    writer = IntakeWriter(site.intake, IntakeSection(), refuse_raw=lambda: ret.raw_refused)
    acked: list[int] = []
    writer.start()
    for n, record in enumerate(records):
        writer.submit(record, lambda n=n: acked.append(n))
    writer.stop()
    return acked


def new_window(n: int, stream: str) -> Window:
    topic, payload = f"sensors/box-2/{stream}", bytes([n]) * 4 * KIB
    return Window("box-2", stream, "mqtt", topic, NOW, NOW, 16000.0, 1, 2048, 0.128, "pcm16",
                  content_digest(topic, payload), payload)


def new_telemetry(n: int) -> Telemetry:
    topic, data = "sensors/box-2/telemetry", json.dumps({"temperature": n})
    return Telemetry("box-2", topic, NOW, NOW, content_digest(topic, data.encode()), data)


def test_refused_windows_are_acknowledged_counted_and_telemetry_still_stored(site):
    site.many_telemetry(300, size=4 * KIB)  # records the cloud has not accepted, over 1 MB
    ret = retention(site)
    try:
        assert ret.run_once(NOW).raw_refused
        windows, telemetry = site.count("SELECT count(*) FROM windows"), len(site.ids("telemetry"))
        records = [new_window(1, "audio"), new_telemetry(1), new_window(2, "vibration"),
                   new_window(3, "audio"), new_telemetry(2)]
        assert sorted(submit_all(site, ret, records)) == [0, 1, 2, 3, 4]
        assert site.count("SELECT count(*) FROM windows") == windows
        assert len(site.ids("telemetry")) == telemetry + 2
        rows = site.conn.execute("SELECT topic, reason, payload_size, sample FROM rejected "
                                 "ORDER BY id").fetchall()
        assert rows == [("sensors/box-2/audio", DISK_FULL, 4096, b""),
                        ("sensors/box-2/vibration", DISK_FULL, 4096, b""),
                        ("sensors/box-2/audio", DISK_FULL, 4096, b"")]
        counters = dict(site.conn.execute("SELECT name, value FROM counters"))
        assert counters["rejected"] == 3
        assert counters["rejected:audio:disk_full"] == 2
        assert counters["rejected:vibration:disk_full"] == 1

        site.accept()  # the uplink catches up: room again, windows are stored again
        assert not ret.run_once(NOW).raw_refused
        submit_all(site, ret, [new_window(4, "audio")])
        assert site.count("SELECT count(*) FROM windows") == windows + 1
    finally:
        ret.close()


def test_rejections_are_counted_per_stream_and_reason_once(site):
    def rejection(topic: str, reason: str, n: int) -> Rejection:
        return Rejection(topic, NOW, reason, "d", 1, b"x", content_digest(topic, bytes([n])))

    batch = [rejection("sensors/a/audio", "not_wav", 1), rejection("sensors/a/audio", "not_wav", 2),
             rejection("sensors/a/telemetry", "not_json", 3),
             rejection("sensors/a/bogus", "unknown_stream", 4)]
    site.intake.write_batch(batch)
    outcome = site.intake.write_batch(batch[:2])  # redelivered: stored and counted once
    assert outcome.duplicates == 2
    counters = dict(site.conn.execute("SELECT name, value FROM counters"))
    assert {k: v for k, v in counters.items() if k.startswith("rejected")} == {
        "rejected": 4, "rejected:audio:not_wav": 2, "rejected:telemetry:not_json": 1,
        "rejected:unknown:unknown_stream": 1}


def test_a_batch_waits_for_another_writer_instead_of_failing(site):
    """Retention is a second writer: an intake batch that started reading while it held the
    lock must wait and commit after it, not fail when it commits."""
    other = sqlite3.connect(site.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counters (name, value) VALUES ('other', 1)")
    errors: list[Exception] = []

    def write() -> None:
        try:
            site.telemetry(age_ms=0)
        except Exception as e:
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.2)  # the batch is under way, waiting for the lock
    other.execute("COMMIT")
    thread.join()
    other.close()
    assert errors == [] and len(site.ids("telemetry")) == 1


# --- the WAL -------------------------------------------------------------------------------


def wal_size(site: Site) -> int:
    return (site.dir / "gateway.db-wal").stat().st_size


def test_the_clean_up_checkpoints_and_truncates_the_wal(site):
    # Telemetry: raw windows no longer go through the WAL (store/segments.py).
    site.many_telemetry(3000, 2 * KIB)  # one transaction: the WAL holds all of it
    assert wal_size(site) > 6 * MB
    ret = retention(site, disk_budget_mb=16)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.wal_truncated and wal_size(site) == 0


def test_a_reader_holding_the_wal_does_not_stop_the_clean_up(site):
    site.window(age_ms=0)
    reader = sqlite3.connect(site.path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM windows").fetchone()  # pins a snapshot
    ret = retention(site, disk_budget_mb=16)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
        reader.close()
    assert not report.wal_truncated and not report.raw_refused


# --- a full file system (issue 12.5) -----------------------------------------------------------


def test_the_clean_up_runs_on_a_full_file_system_thanks_to_its_reserve(tmp_path):
    # Before: its own deletes failed ("database or disk is full") on every run, so nothing
    # was ever freed and raw intake was never refused.
    with small_file_system(tmp_path / "disk", 16) as mount:
        site = Site(mount / "data")
        try:
            windows = [site.window(age_ms=(100 - n) * MINUTE, size=256 * KIB) for n in range(20)]
            for window_id in windows:
                site.result(window_id, anomaly=0)
            section = RetentionSection(disk_budget_mb=16, min_free_mb=4, raw_normal_days=30.0,
                                       raw_anomaly_days=60.0, synced_days=90.0)
            cleanup = Retention(section, site.dir, site.path)
            assert cleanup.disk.held > 0  # the reserve, made at start
            site.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL holds no room either
            fill_file_system(mount / "filler")
            with pytest.raises(OSError, match="No space left"):  # its raw segment's write
                site.window(age_ms=0, size=256 * KIB)  # the card is really full
            report = cleanup.run_once(now_ms=NOW)
            assert report.deleted.get("raw_normal", 0) > 0  # room made: segments deleted
            assert report.segments_deleted > 0
            assert oldest_first(set(windows) - site.raw(), windows)
            assert not report.raw_refused
            site.telemetry(age_ms=0)  # and the store takes writes again
            cleanup.close()
        finally:
            site.close()


def test_rejections_go_before_any_real_data_when_the_disk_is_short(site):
    # Issue 12.10: an attacker's rejected messages outlived real raw data in a disk shortage.
    windows = [site.window(age_ms=(50 - n) * MINUTE) for n in range(40)]
    for window_id in windows:
        site.result(window_id, anomaly=0)
    site.accept()
    for start in range(0, 3000, 500):
        site.intake.write_batch([Rejection(
            f"sensors/{'x' * 250}{start + i}/audio", NOW - DAY, "not_wav", "d" * 500, 9, b"s",
            content_digest("r", str(start + i).encode())) for i in range(500)])
    # A run truncates the WAL before it measures: let one do that first (nothing is over a
    # generous budget), so the budget below is really a little short of what is used.
    warm = retention(site, disk_budget_mb=1024)
    assert warm.run_once(now_ms=NOW).deleted == {}
    warm.close()
    probe = retention(site)
    used_mb = probe.usage().used // MB
    probe.close()
    cleanup = retention(site, disk_budget_mb=used_mb)
    report = cleanup.run_once(now_ms=NOW)
    cleanup.close()
    assert report.deleted.get("rejected", 0) > 0
    assert report.deleted.get("raw_normal", 0) == 0 and site.raw() == set(windows)


def test_the_brokers_file_counts_against_the_budget(site, tmp_path):
    # Issue 12.9: Mosquitto's persistence sat outside the gateway's disk budget (40 retained
    # 8 MiB WAVs: 640 MB) although it fills the same card.
    windows = [site.window(age_ms=(50 - n) * MINUTE) for n in range(20)]
    for window_id in windows:
        site.result(window_id, anomaly=0)
    site.accept()
    broker_file = tmp_path / "mosquitto.db"
    alone = retention(site, disk_budget_mb=64, broker_store=str(broker_file))
    assert not alone._over(alone.usage())  # no broker file yet: far under the budget
    alone.close()
    with broker_file.open("wb") as f:
        f.truncate(70 * MB)  # sparse: the size is what counts
    cleanup = retention(site, disk_budget_mb=64, broker_store=str(broker_file))
    assert cleanup.usage().used >= 70 * MB
    report = cleanup.run_once(now_ms=NOW)
    cleanup.close()
    # The gateway cannot shrink the broker's file; it deletes its own oldest raw data for it.
    assert report.deleted.get("raw_normal", 0) == len(windows)
