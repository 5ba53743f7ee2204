"""Each device's learned normal in the store: learned once, kept across connections, reset."""

from __future__ import annotations

import numpy as np

from gateway.inference.results import ResultStore
from gateway.inference.worker import RetryPolicy
from gateway.intake.payloads import audio_window
from gateway.store.database import IntakeStore
from gateway.wav import encode_wav
from tests.support import CommittedAnalyser
from tests.unit.test_worker import RULES, Scorer


def _store(tmp_path, count: int):
    path = tmp_path / "gateway.db"
    store = IntakeStore(path)
    rng = np.random.default_rng(0)
    windows = [audio_window(device_id="box", topic="sensors/box/audio",
                            payload=encode_wav(rng.normal(0.25, 0.01, (16000, 1)).astype(
                                np.float32), 16000),
                            captured_at_ms=1000 + i, received_at_ms=1000 + i, source="mqtt")
               for i in range(count)]
    store.write_batch(windows)
    store.close()
    return path


def _rows(path, sql):
    store = ResultStore(path)
    try:
        return store.conn.execute(sql).fetchall()
    finally:
        store.close()


def _analyse(path, ids):
    worker = CommittedAnalyser(path, Scorer, RULES, RetryPolicy(3, 1.0, 4.0))
    for window_id in ids:
        assert worker.handle(window_id) is None
    worker.close()


def test_the_normal_is_learned_once_kept_by_a_new_connection_and_forgotten_on_reset(tmp_path):
    path = _store(tmp_path, 14)
    _analyse(path, range(1, 11))  # the 10th window ends learning
    (fit, learned), = _rows(path, "SELECT json_extract(fit, '$.windows'), "
                                  "json_array_length(scores) FROM baselines")
    assert (fit, learned) == (10, 10)
    assert _rows(path, "SELECT count(*) FROM baseline_vectors") == [(0,)]  # no longer needed
    _analyse(path, [11])  # another worker, another connection: judged against the stored fit
    assert _rows(path, "SELECT threshold, anomaly IS NOT NULL FROM results "
                       "WHERE window_id = 11") == [(6.0, 1)]
    # What `gateway baseline reset` does; the learning vectors go with the baseline.
    store = ResultStore(path)
    with store.conn:
        store.conn.execute("DELETE FROM baselines WHERE device_id = 'box'")
        store.conn.execute("DELETE FROM device_states WHERE device_id = 'box'")
    store.close()
    _analyse(path, [12, 13])
    assert _rows(path, "SELECT json_array_length(scores), fit FROM baselines") == [(2, None)]
    assert _rows(path, "SELECT count(*) FROM baseline_vectors") == [(2,)]
    assert _rows(path, "SELECT threshold FROM results WHERE window_id = 13") == [(None,)]


def test_a_reset_while_learning_leaves_no_stale_learning_windows(tmp_path):
    path = _store(tmp_path, 12)
    _analyse(path, range(1, 6))
    assert _rows(path, "SELECT count(*) FROM baseline_vectors") == [(5,)]
    store = ResultStore(path)
    with store.conn:
        store.conn.execute("DELETE FROM baselines")
    store.close()
    assert _rows(path, "SELECT count(*) FROM baseline_vectors") == [(0,)]
