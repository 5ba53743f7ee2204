"""Named schema migrations of the gateway's store, applied in order at start.

Never edit a migration that has shipped: add a new one. Each runs in a
transaction together with the record that it was applied.
"""

from __future__ import annotations

import json

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway.store.vectors import float64_blob

migrations = Migrations("sensor-gateway")


@migrations(name="0001_intake")
def intake_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE windows (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL CHECK (stream IN ('audio', 'vibration')),
            source TEXT NOT NULL,
            topic TEXT NOT NULL,
            captured_at_ms INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            sample_rate REAL NOT NULL,
            channels INTEGER NOT NULL,
            frames INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            encoding TEXT NOT NULL,
            digest BLOB NOT NULL UNIQUE,
            payload BLOB
        )"""
    )
    db.execute("CREATE INDEX windows_device_time ON windows (device_id, captured_at_ms)")
    db.execute(
        """CREATE TABLE telemetry (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            digest BLOB NOT NULL UNIQUE,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX telemetry_device_time ON telemetry (device_id, ts_ms)")
    db.execute(
        """CREATE TABLE rejected (
            id INTEGER PRIMARY KEY,
            received_at_ms INTEGER NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            payload_size INTEGER NOT NULL,
            sample BLOB NOT NULL,
            digest BLOB NOT NULL UNIQUE
        )"""
    )
    # Cumulative counts survive retention deleting the rows they counted.
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")


@migrations(name="0002_inference_and_outbox")
def inference_and_outbox_tables(db: Database) -> None:
    # A random name for this store: upstream record ids are "<store_id>-<outbox seq>", unique
    # even when a data dir is wiped and the sequence starts again.
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(4))))")
    db.execute(
        """CREATE TABLE analysis (
            window_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('trying', 'done', 'dead')),
            attempts INTEGER NOT NULL,
            last_error TEXT,
            updated_at_ms INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE results (
            window_id INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL UNIQUE,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            model TEXT NOT NULL,
            score REAL NOT NULL,
            threshold REAL,
            anomaly INTEGER,
            details TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL,
            published INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX results_unpublished ON results (published) WHERE published = 0")
    db.execute("CREATE INDEX results_device_time ON results (device_id, ts_ms)")
    db.execute(
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL UNIQUE,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('anomaly', 'normal')),
            ts_ms INTEGER NOT NULL,
            score REAL NOT NULL,
            reason TEXT NOT NULL,
            window_id INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            published INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX alerts_unpublished ON alerts (published) WHERE published = 0")
    db.execute(
        """CREATE TABLE baselines (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            model TEXT NOT NULL,
            scores TEXT NOT NULL,
            threshold REAL,
            updated_at_ms INTEGER NOT NULL,
            PRIMARY KEY (device_id, stream)
        )"""
    )
    db.execute(
        """CREATE TABLE device_states (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('learning', 'normal', 'anomaly')),
            recent TEXT NOT NULL,
            last_score REAL,
            last_ts_ms INTEGER,
            updated_at_ms INTEGER NOT NULL,
            PRIMARY KEY (device_id, stream)
        )"""
    )
    # Upstream records, oldest first; a row leaves when the cloud accepted it.
    db.execute(
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('result', 'alert', 'telemetry')),
            device_id TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            data TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            stage TEXT NOT NULL CHECK (stage IN ('inference', 'sync')),
            ref TEXT NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            payload TEXT,
            UNIQUE (stage, ref)
        )"""
    )
    db.execute("CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    # Telemetry stored before this migration still has to go upstream.
    db.execute(
        "INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
        "SELECT 'telemetry', device_id, ts_ms, received_at_ms, data FROM telemetry ORDER BY id"
    )


@migrations(name="0003_retention")
def retention_index(db: Database) -> None:
    # Retention finds raw payloads oldest first and by age. This index holds only the windows
    # that still have one (a budget's worth), so the search never walks weeks of metadata.
    db.execute("CREATE INDEX windows_raw ON windows (received_at_ms) WHERE payload IS NOT NULL")


@migrations(name="0004_field_ts_flag_and_seq")
def ts_flag_and_seq(db: Database) -> None:
    # A message is never dropped over its time stamp: a doubtful one is kept with its own
    # time and its receipt time, and flagged here (docs/mqtt.md, "Time stamps"). The sender's
    # optional sequence number is kept beside it, for the gap counts in seq_state.
    for table in ("windows", "telemetry"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN seq INTEGER")
        db.execute(f"ALTER TABLE {table} ADD COLUMN ts_flag TEXT")
        # Few rows are flagged: a partial index lets status count them without a scan.
        db.execute(f"CREATE INDEX {table}_ts_flagged ON {table} (ts_flag) "
                   "WHERE ts_flag IS NOT NULL")
    # Per device and stream: the last sequence number seen, the messages missing between
    # consecutive ones, and how often the sender started again from 0.
    db.execute(
        """CREATE TABLE seq_state (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            last_seq INTEGER NOT NULL,
            gaps INTEGER NOT NULL DEFAULT 0,
            restarts INTEGER NOT NULL DEFAULT 0,
            updated_at_ms INTEGER NOT NULL,
            PRIMARY KEY (device_id, stream)
        )"""
    )


@migrations(name="0005_field_device_activity")
def device_activity(db: Database) -> None:
    # Per device and stream: when it was last heard from, how often it usually sends, and
    # whether the silence check marked it silent (service/silence.py).
    db.execute(
        """CREATE TABLE device_activity (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            last_ms INTEGER NOT NULL,
            interval_ms INTEGER,
            silent_since_ms INTEGER,
            PRIMARY KEY (device_id, stream)
        )"""
    )


@migrations(name="0006_device_normals")
def device_normals(db: Database) -> None:
    # A device's learned normal (inference/baseline.py): the fit, written once when learning
    # ends, and the drifting centre, written as it follows drift. `version` changes on every
    # write, so a reader can tell its cached copy is still current without parsing the fit.
    for column in ("fit TEXT", "centre TEXT", "version INTEGER NOT NULL DEFAULT 0"):
        db.execute(f"ALTER TABLE baselines ADD COLUMN {column}")
    # The learning windows' features, one row each (appending a row per window, not
    # rewriting a growing list); deleted when the fit is made or the baseline is reset.
    db.execute(
        """CREATE TABLE baseline_vectors (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            model TEXT NOT NULL,
            level_db REAL NOT NULL,
            features TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX baseline_vectors_device ON baseline_vectors (device_id, stream)")
    db.execute(
        """CREATE TRIGGER baseline_vectors_reset AFTER DELETE ON baselines BEGIN
            DELETE FROM baseline_vectors
            WHERE device_id = OLD.device_id AND stream = OLD.stream;
        END"""
    )
    # New states: 'off' (the machine is not running) and 'silent' (nothing received for a
    # while, set outside the analysis); `alarm` keeps the alert state through an off period.
    db.execute(
        """CREATE TABLE device_states_new (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('learning', 'normal', 'anomaly', 'off', 'silent')),
            recent TEXT NOT NULL,
            last_score REAL,
            last_ts_ms INTEGER,
            updated_at_ms INTEGER NOT NULL,
            alarm TEXT NOT NULL DEFAULT 'normal' CHECK (alarm IN ('normal', 'anomaly')),
            PRIMARY KEY (device_id, stream)
        )"""
    )
    db.execute(
        "INSERT INTO device_states_new (device_id, stream, state, recent, last_score, "
        "last_ts_ms, updated_at_ms, alarm) SELECT device_id, stream, state, recent, last_score, "
        "last_ts_ms, updated_at_ms, CASE state WHEN 'anomaly' THEN 'anomaly' ELSE 'normal' END "
        "FROM device_states"
    )
    db.execute("DROP TABLE device_states")
    db.execute("ALTER TABLE device_states_new RENAME TO device_states")


@migrations(name="0007_alerts_of_every_state")
def alerts_of_every_state(db: Database) -> None:
    # An alert is any change of a device's state, not only normal <-> anomaly: a box that
    # went silent (service/silence.py) has no window and no score. With the states in this
    # table, every alert takes the one durable path: committed here with its outbox row,
    # published by the publisher (retried while the broker is away), uploaded by the uplink.
    db.execute(
        """CREATE TABLE alerts_new (
            id INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL UNIQUE,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('anomaly', 'normal', 'learning', 'off', 'silent')),
            ts_ms INTEGER NOT NULL,
            score REAL,
            reason TEXT NOT NULL,
            window_id INTEGER,
            created_at_ms INTEGER NOT NULL,
            published INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("INSERT INTO alerts_new SELECT id, record_id, device_id, stream, state, ts_ms, "
               "score, reason, window_id, created_at_ms, published FROM alerts")
    db.execute("DROP TABLE alerts")
    db.execute("ALTER TABLE alerts_new RENAME TO alerts")
    db.execute("CREATE INDEX alerts_unpublished ON alerts (published) WHERE published = 0")


@migrations(name="0008_telemetry_by_receipt")
def telemetry_by_receipt(db: Database) -> None:
    # Wear (docs/performance.md, "Wear"): an index on (device_id, ts_ms) takes each message
    # at its own device's end, so a commit of messages from N boxes rewrites N of its pages
    # (with 5 hours of history: a third of all pages written per telemetry commit). Its one
    # lookup (retention's "the telemetry row of this outbox record": device, time, receipt
    # time and data) is served as well by the receipt time, which grows with every insert:
    # one commit appends to one page at the index's end.
    db.execute("DROP INDEX telemetry_device_time")
    db.execute("CREATE INDEX telemetry_received ON telemetry (received_at_ms)")


@migrations(name="0009_telemetry_time_ordered_key")
def telemetry_time_ordered_key(db: Database) -> None:
    # Wear (docs/performance.md, "Wear"): telemetry's `digest UNIQUE` held a random 32-byte
    # digest, so with history every message dirtied a random leaf of its index (and each
    # checkpoint copied it again). New rows hold records.telemetry_key: the box's time
    # stamp, then the digest, which appends. Rows up to this id hold the bare digest: the
    # intake writer also looks a new message's bare digest up among them (a read, no
    # write), so a redelivery of a message stored before this migration is still a
    # duplicate. Nothing is rewritten: the migration costs the same for any store size.
    db.execute("INSERT INTO meta (key, value) SELECT 'telemetry_bare_digests_to', "
               "coalesce(max(id), 0) FROM telemetry")


@migrations(name="0010_raw_segments")
def raw_segments(db: Database) -> None:
    # Wear (docs/performance.md, "Wear"): a window's raw bytes go to an append-only segment
    # file (store/segments.py), written once, instead of the payload BLOB that the WAL and
    # then the checkpoint each wrote. The row says where they are, with their CRC-32. Rows
    # stored before keep their BLOB (nothing is rewritten); retention may also move long-kept
    # raw back into the BLOB, out of a segment that is otherwise dead.
    for column in ("raw_segment", "raw_offset", "raw_length", "raw_crc"):
        db.execute(f"ALTER TABLE windows ADD COLUMN {column} INTEGER")
    # Retention's index of the windows that still have raw data, wherever it is.
    db.execute("DROP INDEX windows_raw")
    db.execute("CREATE INDEX windows_raw ON windows (received_at_ms) "
               "WHERE payload IS NOT NULL OR raw_segment IS NOT NULL")
    # Which windows a segment still holds: retention deletes a segment none references.
    db.execute("CREATE INDEX windows_segment ON windows (raw_segment) "
               "WHERE raw_segment IS NOT NULL")


@migrations(name="0011_telemetry_uploaded_from_its_table")
def telemetry_uploaded_from_its_table(db: Database) -> None:
    # Wear (docs/performance.md, "Wear", round 4): each telemetry message was written twice,
    # its row and an outbox copy (deleted after the upload, its pages freed and written again).
    # From here a telemetry row's id is drawn from the outbox's sequence (record_ids.last_seq)
    # and is its record id's seq; the uploader reads rows above a watermark in sync_state
    # (`telemetry_synced_to`), advanced in the transactions that record the cloud's answer.
    # Rows up to this id were copied: their copies still waiting go as they are, under their
    # ids, and the watermark starts above those rows, so none goes twice.
    copied_to = db.execute("SELECT coalesce(max(id), 0) FROM telemetry").fetchone()[0]
    seq_to = db.execute("SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
                        "'outbox'), 0), coalesce((SELECT max(seq) FROM outbox), 0))").fetchone()[0]
    # Retention kept the rows of waiting copies by finding the first copy's row (by device,
    # time, receipt time and data, through telemetry_received). Found once here: the rows
    # from it on stay while any copy made before this migration waits.
    copies = db.execute("SELECT device_id, ts_ms, created_at_ms, data FROM outbox "
                        "WHERE kind = 'telemetry' ORDER BY seq LIMIT 100").fetchall()
    kept_from = copied_to + 1 if not copies else 0  # 0: only rowless copies seen, keep all
    for copy in copies:
        row = db.execute("SELECT min(id) FROM telemetry WHERE device_id = ? AND ts_ms = ? "
                         "AND received_at_ms = ? AND data = ?", copy).fetchone()[0]
        if row is not None:
            kept_from = row
            break
    db.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
        ("telemetry_copied_to", str(copied_to)), ("telemetry_copies_seq_to", str(seq_to)),
        ("telemetry_copies_kept_from", str(kept_from))])
    db.execute("INSERT INTO sync_state (key, value) VALUES ('telemetry_synced_to', ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(copied_to),))
    # The sequence goes past every row id, so a new row's id is above the copied ones too.
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)",
               (max(seq_to, copied_to),))
    # Its only reader was that look-up; kept, it cost a page per commit (and its checkpoint).
    # FAST: Debian's SQLite would otherwise zero every freed page of it (written twice).
    _drop_indexes_unzeroed(db, "telemetry_received")


@migrations(name="0012_centre_with_the_device_state")
def centre_with_the_device_state(db: Database) -> None:
    # Wear (docs/performance.md, "Wear", round 6): the drifting centre moved with every
    # scored window, and updating it in `baselines` rewrote the whole row, the fit's
    # ~62 KiB of overflow pages included (SQLite rewrites a row, not a column): ~2x the raw
    # audio in WAL frames, then again in the checkpoint. The centre now lives in
    # device_states, which each window writes anyway (one small row, as float64,
    # store/vectors.py), and `baselines` is written only while learning and at a (re)fit.
    # Its `version` then names the fit, and sits before it in the row, so reading it (once
    # per window, to check the cached fit) does not walk the fit's overflow chain.
    db.execute("ALTER TABLE device_states ADD COLUMN centre BLOB")
    centres = db.execute("SELECT device_id, stream, centre FROM baselines "
                         "WHERE centre IS NOT NULL").fetchall()
    # A baseline without a state row keeps no centre: it starts again from the learned one.
    db.conn.executemany("UPDATE device_states SET centre = ? WHERE device_id = ? AND stream = ?",
                        [(float64_blob(json.loads(centre)), device, stream)
                         for device, stream, centre in centres])
    db.execute(
        """CREATE TABLE baselines_new (
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL,
            model TEXT NOT NULL,
            scores TEXT NOT NULL,
            threshold REAL,
            updated_at_ms INTEGER NOT NULL,
            version INTEGER NOT NULL DEFAULT 0,
            fit TEXT,
            PRIMARY KEY (device_id, stream)
        )"""
    )
    db.execute("INSERT INTO baselines_new (device_id, stream, model, scores, threshold, "
               "updated_at_ms, version, fit) SELECT device_id, stream, model, scores, "
               "threshold, updated_at_ms, version, fit FROM baselines")
    db.execute("DROP TABLE baselines")  # and its trigger
    db.execute("ALTER TABLE baselines_new RENAME TO baselines")
    db.execute(
        """CREATE TRIGGER baseline_vectors_reset AFTER DELETE ON baselines BEGIN
            DELETE FROM baseline_vectors
            WHERE device_id = OLD.device_id AND stream = OLD.stream;
        END"""
    )


@migrations(name="0013_telemetry_narrow_key")
def telemetry_narrow_key(db: Database) -> None:
    # Wear (docs/performance.md, "Wear", round 7): a telemetry key held the whole 32-byte
    # digest after the box's time stamp; new keys keep 16 bytes of it (records.telemetry_key),
    # 16 bytes less in each row and each index entry, every one written twice. Rows up to
    # this id keep their 40-byte keys: while any remains, the intake writer also looks a new
    # key up as their prefix (a read, no write), so a redelivery of a message stored before
    # is still a duplicate. Nothing is rewritten: the same cost for any store size.
    db.execute("INSERT INTO meta (key, value) SELECT 'telemetry_wide_keys_to', "
               "coalesce(max(id), 0) FROM telemetry")


@migrations(name="0014_learning_spread_over_time")
def learning_spread_over_time(db: Database) -> None:
    # Detection round 6 (docs/inference.md): a device learns from one window per
    # `learn_spacing_ms` of the windows' own time, so its normal holds a day of its load,
    # not the first minutes after installation; the last learned window's time stamp is
    # kept with the learning. NULL (every store before this): the next window is taken.
    db.execute("ALTER TABLE baselines ADD COLUMN learned_at_ms INTEGER")


@migrations(name="0015_no_index_by_device_for_windows_and_results")
def no_index_by_device_for_windows_and_results(db: Database) -> None:
    # Wear (docs/performance.md, "Wear", round 8): two indexes by (device, time) cost a page
    # per window each (at the device's place in the index, so in a big store a page of its
    # own, copied again by the checkpoint). `windows_device_time`: no query needs it (status's
    # "last heard from" scans every window either way, as it scans all telemetry).
    # `results_device_time` served one look-up, status's "why" of each stream's latest
    # result: that text now goes with the state row the analysis writes per window anyway,
    # filled here once (through the index, before it goes) from each stream's latest result.
    db.execute("ALTER TABLE device_states ADD COLUMN why TEXT")
    db.execute("UPDATE device_states SET why = (SELECT json_extract(r.details, '$.why') "
               "FROM results r WHERE r.device_id = device_states.device_id AND r.stream = "
               "device_states.stream AND json_valid(r.details) ORDER BY r.ts_ms DESC LIMIT 1)")
    # Dropping an index rewrites no table: its pages go to the free list (FAST: not zeroed
    # one by one, as in 0011).
    _drop_indexes_unzeroed(db, "windows_device_time", "results_device_time")


def _drop_indexes_unzeroed(db: Database, *names: str) -> None:
    """DROP INDEX with secure_delete = FAST for the drop: Debian's SQLite otherwise zeroes
    every freed page one by one (the index written again, in the WAL and the checkpoint)."""
    secure_delete = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = FAST")
    for name in names:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
