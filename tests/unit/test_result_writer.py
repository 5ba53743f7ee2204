"""Group commit of analysis results: a real store file, the shipped model, the real writer.

Windows are handed to the writer before its thread starts, so what lands in one batch does
not depend on timing: the tests count transactions without measuring time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3

import numpy as np
import pytest
from sqlite_utils import Database

from gateway.daemon import EVER
from gateway.devtools import synth
from gateway.inference.model import AudioModel, shipped_model_path
from gateway.inference.result_writer import ResultWriter
from gateway.inference.results import ResultStore, dumps, forget_baseline, unanalysed
from gateway.inference.verdict import VerdictRules
from gateway.inference.worker import Analyser, RetryPolicy
from gateway.intake.payloads import audio_window
from gateway.store.database import IntakeStore
from gateway.store.migrations import migrations
from gateway.store.vectors import blob_floats
from gateway.wav import encode_wav
from tests.support import CommittedAnalyser, wait_for

RULES = VerdictRules(baseline_windows=10, threshold_sigmas=6, alert_after=2, alert_window=3)
DEVICES = ("box-a", "box-b")
NORMAL, FAULTY = 10, 3  # per device: a baseline, then loud leaks (the alert fires on the 2nd)


def _wav(device: str, index: int, fault: str | None = None) -> bytes:
    samples = synth.audio_window(synth.profile_for(device), duration_s=1.0, sample_rate=16_000,
                                 t0_s=float(index), fault=fault, severity=1.0 if fault else 0.0,
                                 rng=np.random.default_rng(index))
    return encode_wav(samples[:, None], 16_000, "pcm16")


def make_store(path, rounds: int = NORMAL + FAULTY, faulty_from: int = NORMAL) -> list[int]:
    """The two devices' windows interleaved (a0 b0 a1 b1 ...); their ids in that order."""
    windows = []
    for i in range(rounds):
        for device in DEVICES:
            windows.append(audio_window(
                device_id=device, topic=f"sensors/{device}/audio",
                payload=_wav(device, i, "leak" if i >= faulty_from else None),
                captured_at_ms=1000 + i, received_at_ms=1000 + i, source="mqtt"))
    store = IntakeStore(path)
    ids = store.write_batch(windows).window_ids
    store.close()
    return ids


@pytest.fixture(scope="module")
def model():
    return AudioModel(shipped_model_path())


def retry(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts, 1.0, 4.0)


def analyser(path, model, writer: ResultWriter) -> Analyser:
    return Analyser(path, lambda: model, RULES, writer.retry, 5.0, writer)


def commits_of(writer: ResultWriter) -> list[str]:
    """Every COMMIT the writer's connection executes (one fsync each), as SQLite traces it."""
    seen: list[str] = []
    writer.store.conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT"
                                         else None)
    return seen


def rows(path, sql, params=()):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


RESULTS = "SELECT window_id, device_id, score, threshold, anomaly FROM results ORDER BY window_id"
ALERTS = "SELECT window_id, device_id, state FROM alerts ORDER BY id"


def test_a_burst_commits_in_few_transactions_with_the_verdicts_of_one_by_one(tmp_path, model):
    one_by_one, grouped = tmp_path / "a" / "gateway.db", tmp_path / "b" / "gateway.db"
    ids = make_store(one_by_one)
    assert make_store(grouped) == ids
    one_at_a_time = CommittedAnalyser(one_by_one, lambda: model, RULES, retry(),
                                      max_batch=1)
    for window_id in ids:  # a batch of one: one transaction per window
        assert one_at_a_time.handle(window_id) is None

    alerted: list[bool] = []
    writer = ResultWriter(grouped, retry(), max_batch=8, on_result=alerted.append)
    commits = commits_of(writer)
    grouped_analyser = analyser(grouped, model, writer)
    for window_id in ids:
        assert grouped_analyser.handle(window_id) is None
    assert rows(grouped, "SELECT count(*) FROM results") == [(0,)]  # handed over, not saved
    writer.start()
    assert writer.stop()

    batches = math.ceil(len(ids) / 8)
    assert len(commits) == writer.stats.batches == batches < len(ids)
    assert rows(grouped, "SELECT window_id, count(*) FROM results GROUP BY window_id") == [
        (window_id, 1) for window_id in ids]
    assert rows(grouped, "SELECT count(*) FROM outbox WHERE kind = 'result'") == [(len(ids),)]
    assert rows(grouped, "SELECT DISTINCT state FROM analysis") == [("done",)]
    # Same scores, thresholds, verdicts and alerts as committing window by window: per device
    # the state evolved in arrival order, across batch boundaries too.
    assert rows(grouped, RESULTS) == rows(one_by_one, RESULTS)
    second_fault = {device: ids[2 * (NORMAL + 1) + k] for k, device in enumerate(DEVICES)}
    assert rows(grouped, ALERTS) == rows(one_by_one, ALERTS) == [
        (second_fault[device], device, "anomaly") for device in DEVICES]
    # Reported only after the commit, once per window.
    assert writer.stats.analysed == len(ids) and alerted.count(True) == len(DEVICES)


class JudgeFailsFor(ResultWriter):
    """The real writer, with a broken judge for one window (a bug hitting one window)."""

    def __init__(self, path, retry_policy, bad_window_id: int, breaks, **options):
        super().__init__(path, retry_policy, **options)
        self.bad_window_id, self.breaks = bad_window_id, breaks

    def submit(self, pending):
        if pending.window.id == self.bad_window_id:
            pending = pending._replace(judge=self.breaks(pending.judge))
        super().submit(pending)


def raises(judge):
    def broken(memory):
        raise RuntimeError("judge bug")
    return broken


def unwritable_memory(judge):
    """A verdict the store fails on half-way: after the result and its outbox row are in."""
    def broken(memory):
        verdict = judge(memory)
        return dataclasses.replace(verdict, memory=dataclasses.replace(verdict.memory,
                                                                       centre=(object(),)))
    return broken


@pytest.mark.parametrize(("breaks", "attempts", "error"), [
    (raises, 3, "RuntimeError: judge bug"),
    (raises, 1, "RuntimeError: judge bug"),  # its last attempt
    (unwritable_memory, 3,
     "TypeError: float() argument must be a string or a real number, not 'object'")])
def test_a_window_whose_save_fails_does_not_sink_the_rest_of_its_batch(tmp_path, model, breaks,
                                                                       attempts, error):
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=3)
    bad = ids[2]  # box-a's second window
    retries: list[tuple[int, float]] = []
    writer = JudgeFailsFor(path, retry(attempts), bad, breaks,
                           requeue=lambda window_id, delay_s: retries.append((window_id, delay_s)))
    worker = analyser(path, model, writer)
    for window_id in ids:
        worker.handle(window_id)
    writer.start()
    assert writer.stop()

    assert (writer.stats.batches, writer.stats.failed) == (1, 1)
    saved = [window_id for window_id in ids if window_id != bad]
    assert [r[0] for r in rows(path, RESULTS)] == saved
    assert rows(path, "SELECT count(*) FROM outbox WHERE kind = 'result'") == [(len(saved),)]
    # The failed save left nothing behind: box-a's baseline holds its two saved windows only.
    assert dict(rows(path, "SELECT device_id, json_array_length(scores) FROM baselines")) == {
        "box-a": 2, "box-b": 3}
    (state, tries, last_error), = rows(path, "SELECT state, attempts, last_error FROM analysis "
                                             "WHERE window_id = ?", (bad,))
    assert tries == 1 and last_error == error
    dead = rows(path, "SELECT ref, attempts FROM dead_letters")
    if attempts == 1:  # its last attempt: given up, as any failed last attempt is
        assert state == "dead" and dead == [(str(bad), 1)] and retries == []
        return
    # Not the last attempt: recorded, and queued again with the worker's back-off.
    assert state == "trying" and dead == []
    (window_id, delay_s), = retries
    assert window_id == bad and 0 <= delay_s <= 4.0
    again = ResultWriter(path, retry())
    again.start()
    assert analyser(path, model, again).handle(bad) is None
    assert again.stop()
    assert rows(path, "SELECT state, attempts FROM analysis WHERE window_id = ?", (bad,)) == [
        ("done", 2)]


def test_a_failed_commit_is_retried_until_it_succeeds(tmp_path, model):
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=2)
    writer = ResultWriter(path, retry())
    writer.store.conn.execute("PRAGMA busy_timeout = 50")  # fail fast while the lock is held
    worker = analyser(path, model, writer)
    for window_id in ids:
        worker.handle(window_id)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the store: commits fail
    writer.start()
    try:
        wait_for(lambda: writer.stats.commit_failures >= 2, what="failed commits")
        assert writer.stats.batches == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert writer.stop()
    assert writer.stats.batches == 1 and writer.stats.analysed == len(ids)
    assert [r[0] for r in rows(path, RESULTS)] == ids


def test_results_not_committed_when_the_process_dies_are_analysed_again(tmp_path, model):
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=3)
    spent = ids[-1]
    earlier = ResultStore(path)
    for _ in range(2):  # two earlier starts at this window died before finishing it
        earlier.claim(spent)
    earlier.close()
    writer = ResultWriter(path, retry())  # never started: the process dies before it commits
    dying = analyser(path, model, writer)
    for window_id in ids:
        assert dying.handle(window_id) is None
    writer.store.close()  # the process is gone; nothing was flushed

    assert rows(path, "SELECT count(*) FROM results") == [(0,)]
    assert rows(path, "SELECT window_id, state, attempts FROM analysis ORDER BY window_id") == [
        (window_id, "trying", 3 if window_id == spent else 1) for window_id in ids]
    conn = sqlite3.connect(path)
    try:  # the daemon's start-up sweep: every window without a result is queued again
        assert unanalysed(conn, EVER, EVER) == ids
    finally:
        conn.close()

    restarted = ResultWriter(path, retry())
    restarted.start()
    worker = analyser(path, model, restarted)
    for window_id in ids:
        assert worker.handle(window_id) is None
    assert restarted.stop()
    assert [r[0] for r in rows(path, RESULTS)] == ids[:-1]
    assert rows(path, "SELECT DISTINCT state, attempts FROM analysis WHERE window_id != ?",
                (spent,)) == [("done", 2)]  # re-analysed on their second attempt
    # Only the window that really used up its attempts is given up.
    (ref, tries, error), = rows(path, "SELECT ref, attempts, error FROM dead_letters")
    assert (ref, tries) == (str(spent), 3) and "never finished" in error


def test_an_idle_writer_commits_a_lone_result_without_lingering(tmp_path, model):
    """A quiet site: nothing else is coming, so waiting for company only delays the result.
    The linger here is an hour; the result is committed and reported all the same."""
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=1)
    alerted: list[bool] = []
    writer = ResultWriter(path, retry(), linger_s=3600.0, on_result=alerted.append)
    worker = analyser(path, model, writer)
    writer.start()
    try:
        assert worker.handle(ids[0]) is None
        assert writer.flush(timeout_s=60)  # an hour's linger would still be waiting
        assert alerted == [False]
        assert rows(path, "SELECT window_id FROM results") == [(ids[0],)]
    finally:
        assert writer.stop()


def impossible_state(judge):
    """A verdict the store refuses at its last write (device_states' CHECK), after the
    result, its outbox row and the learning vectors were written inside its savepoint."""
    def broken(memory):
        verdict = judge(memory)
        return dataclasses.replace(verdict, memory=dataclasses.replace(verdict.memory,
                                                                       state="bogus"))
    return broken


BASELINE = ("SELECT b.device_id, b.scores, b.fit, b.version, s.centre, s.recent, s.last_ts_ms "
            "FROM baselines b JOIN device_states s USING (device_id, stream) ORDER BY device_id")
CENTRES = "SELECT centre FROM device_states ORDER BY device_id"


def test_a_failed_save_that_rewrote_a_learned_baseline_is_rolled_back_whole(tmp_path, model):
    """A learned device's memory (its fit of tens of KiB, its drifting centre and state)
    after a failed save is exactly as before it, while the save that shared its
    transaction moved its own device on."""
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=NORMAL + 1)
    learned = ResultWriter(path, retry())
    learned.start()
    worker = analyser(path, model, learned)
    for window_id in ids[:-2]:  # both devices' normal learned
        worker.handle(window_id)
    assert learned.stop()
    before = rows(path, BASELINE)
    assert all(fit is not None and len(fit) > 32 * 1024 for _, _, fit, *_ in before)

    bad, good = ids[-2:]  # box-a's next window fails; box-b's shares its transaction
    writer = JudgeFailsFor(path, retry(), bad, impossible_state)
    worker = analyser(path, model, writer)
    for window_id in (bad, good):
        worker.handle(window_id)
    writer.start()
    assert writer.stop()

    assert (writer.stats.batches, writer.stats.failed, writer.stats.analysed) == (1, 1, 1)
    assert [r[0] for r in rows(path, RESULTS)] == ids[:-2] + [good]
    after = rows(path, BASELINE)
    assert after[0] == before[0]  # box-a: exactly as before the failed save
    assert after[1][:4] == before[1][:4] and after[1][6] != before[1][6]  # box-b moved on
    assert rows(path, "SELECT state FROM analysis WHERE window_id = ?", (bad,)) == [("trying",)]


SCORED = 3  # rounds after learning; with the fit rewritten per window they stay under the
#             WAL's autocheckpoint (1,000 pages), so the WAL file holds every frame written


def _wal_frames(wal, page_size: int) -> list[int]:
    """The page number of each frame in a WAL file (a 32-byte header, then frames of a
    24-byte header, the page number first, and the page)."""
    data = wal.read_bytes()
    frame = 24 + page_size
    return [int.from_bytes(data[at:at + 4], "big") for at in range(32, len(data), frame)]


def test_a_learned_device_s_scored_windows_never_write_its_fit_again(tmp_path, model):
    """SD card wear (issue 14): the fit (tens of KiB in overflow pages) is written once per
    fit; a scored window moves the device's drifting centre, a few pages of WAL."""
    path = tmp_path / "gateway.db"
    ids = make_store(path, rounds=NORMAL + SCORED, faulty_from=NORMAL + SCORED)
    worker = CommittedAnalyser(path, lambda: model, RULES, retry())
    learning, scored = ids[:2 * NORMAL], ids[2 * NORMAL:]
    for window_id in learning:
        worker.handle(window_id)
    watcher = sqlite3.connect(path)  # kept open: the last connection's close empties the WAL
    try:
        page_size = watcher.execute("PRAGMA page_size").fetchone()[0]
        fit_bytes = watcher.execute("SELECT min(length(fit)) FROM baselines").fetchone()[0]
        fit_pages = {row[0] for row in watcher.execute(
            "SELECT pageno FROM dbstat WHERE name = 'baselines'")}
        state_key_pages = {row[0] for row in watcher.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_device_states_1'")}
        assert fit_bytes > 32 * 1024 and len(fit_pages) > 2 * fit_bytes // page_size
        centres = watcher.execute(CENTRES).fetchall()
        watcher.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert (tmp_path / "gateway.db-wal").stat().st_size == 0
        for window_id in scored:
            worker.handle(window_id)
        assert watcher.execute(
            f"SELECT count(*) FROM results WHERE window_id >= {scored[0]} AND "
            "threshold IS NOT NULL AND NOT anomaly").fetchone() == (len(scored),)
        moved = watcher.execute(CENTRES).fetchall()
        frames = _wal_frames(tmp_path / "gateway.db-wal", page_size)
    finally:
        watcher.close()
    assert all(a != b for a, b in zip(centres, moved, strict=True))  # both followed drift
    assert not fit_pages & set(frames)
    # the state row is updated in place: its key's index is not written again (round 8)
    assert state_key_pages and not state_key_pages & set(frames)
    # each window committed alone here: ~17 pages of results, outbox, analysis, counters
    assert len(frames) * (24 + page_size) / len(scored) < fit_bytes / 4


BEFORE_0012 = "0012_centre_with_the_device_state"
_OLD_BASELINE = ("INSERT INTO baselines (device_id, stream, model, scores, threshold, "
                 "updated_at_ms, fit, centre, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_OLD_STATE = ("INSERT INTO device_states (device_id, stream, state, recent, last_score, "
              "last_ts_ms, updated_at_ms, alarm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def _memory_of(store: ResultStore, device: str, model: str) -> tuple:
    m = store.memory(device, "audio", model)
    return (m.model, m.levels, m.threshold, m.centre, m.state, m.alarm, m.recent,
            dumps(m.fit.to_json()) if m.fit else None)


def test_migration_0012_moves_each_centre_to_its_state_and_keeps_every_memory(tmp_path, model):
    """A store of the schema before 0012 (the centre in `baselines`, JSON) holding two learned
    devices, one learning: after the migration each device's memory is what it was, and a
    reset still takes the learning vectors with the baseline."""
    learned = tmp_path / "learned.db"
    ids = make_store(learned, rounds=NORMAL + 1, faulty_from=NORMAL + 1)
    worker = CommittedAnalyser(learned, lambda: model, RULES, retry())
    for window_id in ids:  # learned, then one scored window each: the centres drifted
        worker.handle(window_id)
    worker.close()
    now = ResultStore(learned)
    name = now.conn.execute("SELECT model FROM baselines LIMIT 1").fetchone()[0]
    memories = {device: _memory_of(now, device, name) for device in DEVICES}
    now.close()
    # drifted from the learned centre (what a state row without one would fall back to)
    assert all(m[3] != tuple(json.loads(m[7])["origin"]) for m in memories.values())

    old = tmp_path / "old.db"
    db = Database(sqlite3.connect(old))
    db.execute("PRAGMA page_size = 1024")
    db.enable_wal()
    migrations.apply(db, stop_before=BEFORE_0012)
    with db.conn:
        for device, (model_name, levels, threshold, centre, state, alarm, recent, fit) in (
                memories.items()):
            db.execute(_OLD_BASELINE, (device, "audio", model_name, dumps(list(levels)),
                                       threshold, 1, fit, dumps(centre), 7))
            db.execute(_OLD_STATE, (device, "audio", state, recent, 1.0, 1, 1, alarm))
        db.execute(_OLD_BASELINE, ("box-c", "audio", name, "[60.0]", None, 1, None, None, 8))
        db.execute(_OLD_STATE, ("box-c", "audio", "learning", "", None, 1, 1, "normal"))
        db.execute("INSERT INTO baseline_vectors (device_id, stream, model, level_db, "
                   "features) VALUES ('box-c', 'audio', ?, 60.0, '[1.0]')", (name,))
    db.close()

    migrated = ResultStore(old)  # 0012 at start
    try:
        assert {device: _memory_of(migrated, device, name) for device in DEVICES} == memories
        assert migrated.conn.execute("SELECT device_id, typeof(centre) FROM device_states "
                                     "ORDER BY device_id").fetchall() == [
            ("box-a", "blob"), ("box-b", "blob"), ("box-c", "null")]
        assert forget_baseline(migrated.conn, "box-c", ["audio"]) == 1
        assert migrated.conn.execute("SELECT count(*) FROM baseline_vectors").fetchone() == (0,)
    finally:
        migrated.close()


def test_learning_takes_one_window_per_spacing_across_a_restart(tmp_path, model):
    """Round 6: a learning device takes one window per `learn_spacing_ms` of the windows'
    own time stamps (here 1 ms apart, one taken every 3 ms). The last one taken is kept with
    the learning, so a restart does not take the next window early; the windows passed
    over publish `learning` and do not rewrite the learning row."""
    path = tmp_path / "gateway.db"
    ids = make_store(path)  # a0 b0 a1 b1 ... captured at 1000 + i
    spaced = dataclasses.replace(RULES, learn_spacing_ms=3)
    conn = sqlite3.connect(path)  # counts the writes of the learning row
    conn.executescript("""CREATE TABLE written (device_id TEXT);
        CREATE TRIGGER learning_inserted AFTER INSERT ON baselines
        BEGIN INSERT INTO written VALUES (NEW.device_id); END;
        CREATE TRIGGER learning_updated AFTER UPDATE ON baselines
        BEGIN INSERT INTO written VALUES (NEW.device_id); END;""")
    conn.close()
    half = 14  # rounds 0-6
    for part in (ids[:half], ids[half:]):
        writer = ResultWriter(path, retry())
        writer.start()
        worker = Analyser(path, lambda: model, spaced, writer.retry, 5.0, writer)
        for window_id in part:
            assert worker.handle(window_id) is None
        assert writer.stop()
    taken = [0, 3, 6, 9, 12]  # 7 and 8 are too soon after 6, also after the restart
    for device in DEVICES:
        (scores, learned_at), = rows(path, "SELECT scores, learned_at_ms FROM baselines "
                                           "WHERE device_id = ?", (device,))
        assert len(json.loads(scores)) == len(taken) and learned_at == 1000 + taken[-1]
        (vectors,), = rows(path, "SELECT count(*) FROM baseline_vectors WHERE device_id = ?",
                           (device,))
        assert vectors == len(taken)
    details = [json.loads(d) for (d,) in rows(
        path, "SELECT details FROM results WHERE device_id = 'box-a' ORDER BY ts_ms")]
    assert all(d["state"] == "learning" for d in details)
    assert ["taken every" in d["why"] for d in details] == [i not in taken for i in range(13)]
    assert rows(path, "SELECT device_id, count(*) FROM written GROUP BY device_id") == [
        (device, len(taken)) for device in DEVICES]


def _learn(path, model, ids, as_json_before: int | None = None) -> list:
    """Learn `ids`; before the window at `as_json_before`, the stored learning vectors are
    turned into JSON, as the store held them before round 8."""
    worker = CommittedAnalyser(path, lambda: model, RULES, retry())
    for n, window_id in enumerate(ids):
        if n == as_json_before:
            conn = sqlite3.connect(path)
            with conn:
                for row_id, blob in conn.execute("SELECT id, features FROM baseline_vectors"):
                    conn.execute("UPDATE baseline_vectors SET features = ? WHERE id = ?",
                                 (dumps(list(blob_floats(blob))), row_id))
            assert conn.execute("SELECT DISTINCT typeof(features) FROM baseline_vectors"
                                ).fetchall() == [("text",)]
            conn.close()
        worker.handle(window_id)
    worker.close()
    return rows(path, "SELECT device_id, scores, threshold, fit FROM baselines ORDER BY 1")


def test_learning_vectors_are_float64_and_older_json_ones_still_count(tmp_path, model):
    """Wear (round 8): a learning vector is ~460 bytes of float64 in its row's leaf, where its
    JSON overflowed a 1 KiB page. A device half-way through learning at the upgrade fits
    from both kinds exactly as from either."""
    plain, upgraded = tmp_path / "plain.db", tmp_path / "upgraded.db"
    ids = make_store(plain, rounds=NORMAL, faulty_from=NORMAL)
    assert make_store(upgraded, rounds=NORMAL, faulty_from=NORMAL) == ids
    worker = CommittedAnalyser(plain, lambda: model, RULES, retry())
    for window_id in ids[:-2]:
        worker.handle(window_id)
    worker.close()
    assert rows(plain, "SELECT DISTINCT typeof(features) FROM baseline_vectors") == [("blob",)]
    (size,), = rows(plain, "SELECT max(length(features)) FROM baseline_vectors")
    assert size < 1024 - 100  # inside the row's 1 KiB leaf
    fitted = _learn(plain, model, ids[-2:])
    assert all(fit is not None for *_, fit in fitted)
    assert _learn(upgraded, model, ids, as_json_before=len(ids) // 2) == fitted
