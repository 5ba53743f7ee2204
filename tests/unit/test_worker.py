"""The analysis task body against a real store: retries, dead letters, idempotency, time limit.

The audio model is the one seam: `Analyser` is handed a factory, as the daemon hands it the
real LiteRT model; here some factories give scorers that fail on cue.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from gateway.inference import worker as worker_module
from gateway.inference.audio_features import WindowFeatures
from gateway.inference.model import ModelError
from gateway.inference.results import ResultStore, dumps
from gateway.inference.verdict import VerdictRules
from gateway.inference.vibration_features import Kinematics
from gateway.inference.worker import RetryPolicy
from gateway.intake.payloads import audio_window
from gateway.store.database import BUSY_TIMEOUT_MS, IntakeStore
from gateway.store.vectors import blob_floats
from gateway.wav import encode_wav
from tests.support import CommittedAnalyser

RULES = VerdictRules(baseline_windows=10, threshold_sigmas=6, alert_after=2, alert_window=3)


class Scorer:
    name_version = "test@1"

    def __init__(self, fail_times: int = 0, sleep_s: float = 0):
        self.fail_times, self.sleep_s = fail_times, sleep_s
        self.calls = 0

    def score_window(self, pieces, sample_rate, check):
        samples = np.concatenate(list(pieces))
        self.calls += 1
        time.sleep(self.sleep_s)
        if self.calls <= self.fail_times:
            raise RuntimeError("flaky")
        level = float(np.abs(samples).mean())
        condition = WindowFeatures(("level",), np.array([level]), np.array([0.01]), ("dB",),
                                   -10.0, {})
        return SimpleNamespace(score=level, features_ms=0.1, model_ms=0.1, details={},
                               condition=condition)


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    samples = np.full((16000, 1), 0.25, np.float32)
    windows = [audio_window(device_id="box", topic="sensors/box/audio",
                            payload=encode_wav(samples * (1 + i / 100), 16000),
                            captured_at_ms=1000 + i, received_at_ms=1000 + i, source="mqtt")
               for i in range(3)]
    assert store.write_batch(windows).window_ids == [1, 2, 3]
    store.close()
    return path


def analyser(store_path, scorer, attempts=3, time_limit_s=5.0) -> CommittedAnalyser:
    return CommittedAnalyser(store_path, lambda: scorer, RULES,
                             RetryPolicy(attempts, 1.0, 4.0), time_limit_s)


def rows(store_path, sql):
    store = ResultStore(store_path)
    try:
        return store.conn.execute(sql).fetchall()
    finally:
        store.close()


def test_a_window_is_analysed_once_even_when_handled_twice(store_path):
    worker = analyser(store_path, Scorer())
    assert worker.handle(1) is None
    assert worker.handle(1) is None
    assert rows(store_path, "SELECT count(*) FROM results") == [(1,)]
    assert rows(store_path, "SELECT count(*) FROM outbox WHERE kind = 'result'") == [(1,)]
    assert rows(store_path, "SELECT state, attempts FROM analysis") == [("done", 1)]


def test_transient_failures_retry_with_capped_jittered_backoff_then_dead_letter(store_path):
    worker = analyser(store_path, Scorer(fail_times=99), attempts=3)
    delays = [worker.handle(2) for _ in range(3)]
    assert all(0 <= d <= 4.0 for d in delays[:2]) and delays[2] is None
    (stage, ref, attempts, error), = rows(store_path,
                                         "SELECT stage, ref, attempts, error FROM dead_letters")
    assert (stage, ref, attempts) == ("inference", "2", 3)
    assert "RuntimeError: flaky" in error
    assert rows(store_path, "SELECT state FROM analysis") == [("dead",)]


def test_backoff_grows_and_is_jittered():
    policy = RetryPolicy(10, 1.0, 60.0)
    first = [policy.delay(1) for _ in range(200)]
    fifth = [policy.delay(5) for _ in range(200)]
    assert max(first) <= 1.0 and max(fifth) <= 16.0
    assert np.mean(fifth) > 3 * np.mean(first)
    assert len(set(first)) > 100  # jitter: retries of many windows spread out
    assert max(policy.delay(30) for _ in range(50)) <= 60.0


def test_a_retry_after_a_transient_failure_succeeds(store_path):
    worker = analyser(store_path, Scorer(fail_times=1))
    assert worker.handle(1) > 0
    assert worker.handle(1) is None
    assert rows(store_path, "SELECT state, attempts, last_error FROM analysis") == [
        ("done", 2, None)]


def test_a_permanent_failure_goes_to_the_dead_letter_list_at_once(store_path):
    store = ResultStore(store_path)
    with store.conn:
        store.conn.execute("UPDATE windows SET payload = ? WHERE id = 3", (b"garbage",))
    store.close()
    scorer = Scorer()
    assert analyser(store_path, scorer).handle(3) is None
    (attempts, error), = rows(store_path, "SELECT attempts, error FROM dead_letters")
    assert attempts == 1 and error.startswith("WavError")
    assert scorer.calls == 0


def test_a_window_that_keeps_killing_its_worker_is_given_up(store_path):
    store = ResultStore(store_path)
    for _ in range(3):  # three attempts that started and never finished (process died)
        store.claim(1)
    store.close()
    scorer = Scorer()
    assert analyser(store_path, scorer, attempts=3).handle(1) is None
    assert scorer.calls == 0
    (error,), = rows(store_path, "SELECT error FROM dead_letters")
    assert "never finished" in error


def test_an_analysis_over_its_time_limit_counts_as_a_failed_attempt(store_path):
    worker = analyser(store_path, Scorer(sleep_s=0.05), time_limit_s=0.01)
    assert worker.handle(1) > 0
    (error,), = rows(store_path, "SELECT last_error FROM analysis")
    assert error.startswith("AnalysisTimeout")
    assert rows(store_path, "SELECT count(*) FROM results") == [(0,)]


def test_a_missing_window_is_not_retried(store_path):
    assert analyser(store_path, Scorer()).handle(999) is None


def test_without_a_model_audio_waits_unclaimed_and_is_caught_up_when_it_loads(
        store_path, monkeypatch):
    # Issue 13.2: a missing runtime made the whole daemon exit. Now a worker without a model
    # leaves audio windows unclaimed (no attempt counted, never dead-lettered) and tries the
    # model again every MODEL_RETRY_S; once it loads, the windows are analysed.
    loads = []

    def make_model():
        loads.append(1)
        if len(loads) == 1:
            raise ModelError("no TFLite runtime importable")
        return Scorer()

    a = CommittedAnalyser(store_path, make_model, RULES, RetryPolicy(1, 1.0, 4.0))
    for _ in range(3):  # more than max_attempts: still never dead-lettered
        assert a.handle(1) is None
    assert rows(store_path, "SELECT count(*) FROM analysis") == [(0,)]
    assert rows(store_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert len(loads) == 1  # not retried before MODEL_RETRY_S
    monkeypatch.setattr(worker_module, "MODEL_RETRY_S", 0.0)
    assert a.handle(1) is None
    assert rows(store_path, "SELECT window_id FROM results") == [(1,)]
    a.close()


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_huge_finite_vibration_samples_give_finite_figures_everywhere(store_path):
    """1e200 m/s² passes intake as a finite number; squared it would be inf, and inf or NaN
    must reach no score, baseline or stored JSON (issue 12.6)."""
    doc = {"sample_rate": 3200, "x": [1e200 * np.sin(i / 3) for i in range(3200)],
           "y": [1e200] * 1600 + [-1e200] * 1600, "z": [0.5e200 * (i % 7) for i in range(3200)]}
    store = ResultStore(store_path)
    with store.conn:
        store.conn.execute("UPDATE windows SET stream = 'vibration', payload = ? WHERE id = 3",
                           (json.dumps(doc).encode(),))
    store.close()
    assert analyser(store_path, Scorer()).handle(3) is None
    (score, details), = rows(store_path, "SELECT score, details FROM results")
    assert np.isfinite(score)
    figures = _strict_json(details)
    assert np.isfinite(figures["rms_velocity_mm_s"]) and figures["rms_velocity_mm_s"] > 1e190
    assert np.isfinite(figures["kurtosis"]) and np.isfinite(figures["level_db"])
    # Zone D whatever the baseline says: anomalous while learning too.
    assert figures["why"].startswith("ISO 10816 zone D") and figures["state"] == "learning"
    # and status's "why" of the stream, kept with its state (migration 0015)
    assert rows(store_path, "SELECT why FROM device_states") == [(figures["why"],)]
    (levels,), = rows(store_path, "SELECT scores FROM baselines")
    (vector,), = rows(store_path, "SELECT features FROM baseline_vectors")
    assert all(np.isfinite(_strict_json(levels))) and all(np.isfinite(blob_floats(vector)))
    (outbox,), = rows(store_path, "SELECT data FROM outbox WHERE kind = 'result'")
    assert _strict_json(outbox)["details"] == figures


def _vibration_sine(store_path, velocity_mm_s: float) -> None:
    """Window 3 becomes a 50 Hz vibration of that velocity RMS on x (ISO 10816's worst axis)."""
    t = np.arange(3200) / 3200
    x = velocity_mm_s * 1e-3 * np.sqrt(2) * 2 * np.pi * 50 * np.cos(2 * np.pi * 50 * t)
    doc = {"sample_rate": 3200, "x": x.tolist(), "y": (0.5 * x).tolist(), "z": [0.0] * 3200}
    store = ResultStore(store_path)
    with store.conn:
        store.conn.execute("UPDATE windows SET stream = 'vibration', payload = ? WHERE id = 3",
                           (json.dumps(doc).encode(),))
    store.close()


@pytest.mark.parametrize(("machines", "zone", "severe"), [
    ({}, "C", True),  # no [machines.box]: class I, a small machine
    ({"box": Kinematics(iso_class="II")}, "B", False),
    ({"other": Kinematics(iso_class="II")}, "C", True)])
def test_a_configured_machine_class_sets_the_absolute_limit(store_path, machines, zone, severe):
    """2 mm/s is zone C (alerts whatever the baseline says) for a small machine, zone B for
    a class II one ([machines.<id>] iso_class); the class is in the details and the why."""
    _vibration_sine(store_path, 2.0)
    rules = dataclasses.replace(RULES, machines=machines)
    assert CommittedAnalyser(store_path, Scorer, rules, RetryPolicy(3, 1.0, 4.0), 5.0
                             ).handle(3) is None
    (details,), = rows(store_path, "SELECT details FROM results")
    figures = json.loads(details)
    assert figures["iso_zone"] == zone and figures["rms_velocity_mm_s"] == pytest.approx(2.0, 0.02)
    assert figures["iso_class"] == ("II" if "box" in machines else "I")
    assert figures["why"].startswith("ISO 10816 zone C (class I): velocity 2.0") == severe


def test_non_finite_features_are_dead_lettered_with_the_reason(store_path):
    class NotFinite(Scorer):
        def score_window(self, pieces, sample_rate, check):
            scored = super().score_window(pieces, sample_rate, check)
            scored.condition.values[0] = np.nan
            return scored

    assert analyser(store_path, NotFinite()).handle(1) is None
    (error,), = rows(store_path, "SELECT error FROM dead_letters")
    assert error.startswith("FeatureError") and "not finite" in error
    assert rows(store_path, "SELECT count(*) FROM results") == [(0,)]
    assert rows(store_path, "SELECT count(*) FROM baselines") == [(0,)]


def test_the_analysis_stores_no_json_that_is_not_json():
    with pytest.raises(ValueError):
        dumps({"score": float("inf")})
    with pytest.raises(ValueError):
        dumps([float("nan")])


def test_a_claim_waits_for_a_writer_holding_the_lock_and_then_counts_once(store_path):
    """The claim looks for the write lock itself (SQLite's busy handler slept milliseconds
    between looks): it still waits for the writer, never fails or counts twice."""
    store = ResultStore(store_path)
    holder = sqlite3.connect(store_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer's transaction in progress
    claims: list = []
    claiming = threading.Thread(target=lambda: claims.append(store.claim(1)), daemon=True)
    claiming.start()
    claiming.join(0.3)
    assert claiming.is_alive() and claims == []  # it cannot finish while the lock is held
    holder.execute("COMMIT")
    claiming.join(30)
    assert claims == [("trying", 1)]
    assert rows(store_path, "SELECT attempts FROM analysis") == [(1,)]
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    holder.close()
    store.close()


def test_a_long_vibration_window_is_analysed_without_its_payload_beside_it(store_path):
    """The largest vibration message (4 MiB of JSON, float32 window of 8.4 MB): once decoded
    its payload is let go, so the analysis holds the window and a segment's transforms
    (test_vibration_segments: under 15 MB), not the stored JSON too."""
    samples = (4 * 1024 * 1024 - 100) // 6
    axis = ",".join(np.random.default_rng(2).integers(0, 10, samples).astype(str))
    payload = f'{{"sample_rate": 25600, "x": [{axis}], "y": [{axis}], "z": [{axis}]}}'.encode()
    store = ResultStore(store_path)
    with store.conn:
        store.conn.execute("UPDATE windows SET stream = 'vibration', payload = ? WHERE id = 3",
                           (payload,))
    store.close()
    del axis
    worker = analyser(store_path, Scorer(), time_limit_s=60)
    tracemalloc.start()
    try:
        assert worker.handle(3) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows(store_path, "SELECT count(*) FROM results WHERE window_id = 3") == [(1,)]
    # measured: 20.1 MB; 24.3 with the payload held through the analysis
    assert peak < 22e6, f"peak {peak / 1e6:.1f} MB"


def _store_more(store_path, count: int) -> list[int]:
    """Windows stored after the analyser's store opened: by this process's intake."""
    store = IntakeStore(store_path)
    samples = np.full((16000, 1), 0.2, np.float32)
    ids = store.write_batch([
        audio_window(device_id="box", topic="sensors/box/audio",
                     payload=encode_wav(samples * (1 - i / 100), 16000),
                     captured_at_ms=5000 + i, received_at_ms=5000 + i, source="mqtt")
        for i in range(count)]).window_ids
    store.close()
    return ids


def _commits(worker: CommittedAnalyser) -> list[str]:
    """The worker's own commits (the claims); its store is opened by its first window."""
    seen: list[str] = []
    store, _ = worker.analyser._resources()
    store.conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def test_a_window_stored_by_this_process_is_claimed_by_its_result_s_commit(store_path):
    """Wear (docs/performance.md, round 8): the claim was a commit (and a WAL page) of its
    own, and the result's commit wrote the analysis row again."""
    worker = analyser(store_path, Scorer())
    commits = _commits(worker)
    assert worker.handle(1) is None  # stored before the worker's store opened: claimed first
    assert commits == ["COMMIT"]
    fresh = _store_more(store_path, 2)
    for window_id in fresh:
        assert worker.handle(window_id) is None
    assert commits == ["COMMIT"]  # no claim of their own
    assert rows(store_path, "SELECT window_id, state, attempts FROM analysis ORDER BY 1") == [
        (1, "done", 1), (fresh[0], "done", 1), (fresh[1], "done", 1)]
    assert rows(store_path, "SELECT count(*) FROM results") == [(3,)]


def test_a_first_attempt_that_failed_is_counted_and_the_next_one_claimed_first(store_path):
    worker = analyser(store_path, Scorer(fail_times=1))
    commits = _commits(worker)
    (window_id,) = _store_more(store_path, 1)
    assert worker.handle(window_id) > 0  # failed: recorded as attempt 1
    assert rows(store_path, f"SELECT state, attempts, last_error FROM analysis "
                            f"WHERE window_id = {window_id}") == [
        ("trying", 1, "RuntimeError: flaky")]
    commits.clear()
    assert worker.handle(window_id) is None  # the retry is claimed before its work
    assert commits == ["COMMIT"]
    assert rows(store_path, f"SELECT state, attempts FROM analysis "
                            f"WHERE window_id = {window_id}") == [("done", 2)]


def test_a_fresh_window_that_kills_the_process_is_given_up_one_start_later(store_path):
    """Its first attempt leaves no trace; from the next start on each attempt is claimed
    before it runs, so it is given up after max_attempts + 1 starts, never looped on."""
    first = ResultStore(store_path)  # the process that stored it
    (window_id,) = _store_more(store_path, 1)
    assert first.claim(window_id) == ("trying", 1)
    first.close()  # ... and died analysing it: nothing written
    assert rows(store_path, "SELECT count(*) FROM analysis") == [(0,)]
    for attempts in (1, 2, 3):  # three more starts, each dying in the analysis
        restarted = ResultStore(store_path)
        assert restarted.claim(window_id) == ("trying", attempts)
        restarted.close()
    scorer = Scorer()
    assert analyser(store_path, scorer, attempts=3).handle(window_id) is None
    assert scorer.calls == 0
    (error,), = rows(store_path, "SELECT error FROM dead_letters")
    assert "never finished" in error
