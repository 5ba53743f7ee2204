"""End to end through analysis: real Mosquitto, the real daemon, the shipped model, real queues."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.devtools import synth
from gateway.wav import encode_wav
from tests.support import (
    REPO,
    GatewayProcess,
    Subscriber,
    status_json,
    store_rows,
    wait_for,
    write_config,
)

FAST_VERDICTS = """
[inference]
baseline_windows = 10
baseline_hours = {hours}
alert_after = 2
alert_window = 3
retry_base_s = 0.1
retry_max_s = 1.0
{more}
"""


def _wav(device: str, index: int, fault: str | None = None, severity: float = 0.0) -> bytes:
    rng = np.random.default_rng(index)
    samples = synth.audio_window(synth.profile_for(device), duration_s=1.0, sample_rate=16_000,
                                 t0_s=float(index), fault=fault, severity=severity, rng=rng)
    return encode_wav(samples[:, None], 16_000, "pcm16")


def _wav_running(device: str, index: int, running: bool) -> bytes:
    rng = np.random.default_rng(index)
    samples = synth.audio_window(synth.profile_for(device), duration_s=1.0, sample_rate=16_000,
                                 t0_s=float(index), running=running, rng=rng)
    return encode_wav(samples[:, None], 16_000, "pcm16")


def _count(data_dir, table, where="1=1") -> int:
    rows = store_rows(data_dir, f"SELECT count(*) FROM {table} WHERE {where}")
    return rows[0][0] if rows else 0


def _config(tmp_path, broker, name: str, extra: str = "", inference: str = "",
            hours: float = 0):
    """hours: inference.baseline_hours; 0 learns from every window, as they come."""
    return write_config(tmp_path / f"{name}.toml", gateway_id=name, data_dir=tmp_path / "data",
                        port=broker.port,
                        extra=FAST_VERDICTS.format(more=inference, hours=hours) + extra)


def _gateway_cli(config, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args, "-c", str(config)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.fixture
def results(broker):
    subscriber = Subscriber(broker.port, "gateway/+/+/+")
    yield subscriber
    subscriber.close()


def test_a_published_window_gets_a_result_on_the_result_topic(tmp_path, broker, publisher,
                                                              results):
    config = _config(tmp_path, broker, "gw-result")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish("sensors/box-1/audio", _wav("box-1", 0), ts_ms=1_732_350_000_000)
        topic = "gateway/gw-result/box-1/result"
        result, = wait_for(lambda: results.json_payloads(topic), what="a result")
        assert set(result) >= {"id", "device_id", "stream", "ts", "model", "score",
                               "threshold", "anomaly", "details"}
        assert (result["device_id"], result["stream"], result["ts"]) == (
            "box-1", "audio", 1_732_350_000_000)
        assert result["threshold"] is None and result["anomaly"] is None  # still learning
        assert result["model"].startswith("compressor_ae@")
        # No normal learned yet: no score relative to it; the model's own score is kept.
        assert result["score"] == 0.0 and result["details"]["model_score"] > 0
        assert result["details"]["why"].startswith("learning")
        status = status_json(config)
        assert (status["inferred"], status["pending_inference"]) == (1, 0)
        assert status["devices"][0]["streams"]["audio"]["baseline_windows"] == 1
    finally:
        gateway.terminate()


def test_vibration_windows_get_iso_velocity_results(tmp_path, broker, publisher, results):
    config = _config(tmp_path, broker, "gw-vib")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        xyz = synth.vibration_window(synth.profile_for("box-v"), duration_s=1.0,
                                     sample_rate=3200, rng=np.random.default_rng(0))
        doc = {"sample_rate": 3200, "x": xyz[0].tolist(), "y": xyz[1].tolist(),
               "z": xyz[2].tolist()}
        publisher.publish("sensors/box-v/vibration", json.dumps(doc))
        result, = wait_for(lambda: results.json_payloads("gateway/gw-vib/box-v/result"),
                           what="a vibration result")
        assert result["stream"] == "vibration"
        assert result["details"]["iso_zone"] in "ABCD"
        assert result["details"]["rms_velocity_mm_s"] > 0 and result["score"] == 0.0
        assert result["model"].startswith("iso10816-velocity@1+condition@")
    finally:
        gateway.terminate()


def test_vibration_bearing_impacts_alert_through_the_daemon_with_iso_velocity_in_zone_a_or_b(
        tmp_path, broker, publisher, results):
    config = _config(tmp_path, broker, "gw-bearing")
    profile = synth.profile_for("box-b")

    def doc(index, **fault):
        xyz = synth.vibration_window(profile, duration_s=1.0, sample_rate=3200,
                                     t0_s=float(index), rng=np.random.default_rng(index), **fault)
        return json.dumps({"sample_rate": 3200, "x": xyz[0].tolist(), "y": xyz[1].tolist(),
                           "z": xyz[2].tolist()})

    topic = "gateway/gw-bearing/box-b/result"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-b/vibration", doc(i)) for i in range(12))
        wait_for(lambda: len(results.json_payloads(topic)) == 12, timeout_s=30,
                 what="12 vibration results")
        publisher.publish_all(("sensors/box-b/vibration",
                               doc(100 + i, fault="bearing", severity=0.1)) for i in range(3))
        alert, = wait_for(lambda: results.json_payloads("gateway/gw-bearing/box-b/alert"),
                          timeout_s=30, what="a bearing alert")
        wait_for(lambda: len(results.json_payloads(topic)) == 15, timeout_s=30,
                 what="the fault's results")
        faulty = results.json_payloads(topic)[12:]
        assert all(r["details"]["iso_zone"] in "AB" for r in faulty)  # ISO alone sees nothing
        assert all(r["anomaly"] for r in faulty) and alert["state"] == "anomaly"
        assert any(word in alert["reason"] for word in ("kurtosis", "envelope", "high-frequency"))
    finally:
        gateway.terminate()


def test_a_fault_after_the_baseline_raises_an_alert(tmp_path, broker, publisher, results):
    config = _config(tmp_path, broker, "gw-alert")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-2/audio", _wav("box-2", i)) for i in range(12))
        wait_for(lambda: len(results.json_payloads("gateway/gw-alert/box-2/result")) == 12,
                 timeout_s=30, what="12 normal results")
        normal = results.json_payloads("gateway/gw-alert/box-2/result")
        assert [r["anomaly"] for r in normal[10:]] == [False, False]
        publisher.publish_all(("sensors/box-2/audio", _wav("box-2", 100 + i, "leak", 1.0))
                              for i in range(3))
        alert, = wait_for(lambda: results.json_payloads("gateway/gw-alert/box-2/alert"),
                          timeout_s=30, what="an alert")
        wait_for(lambda: len(results.json_payloads("gateway/gw-alert/box-2/result")) == 15,
                 timeout_s=30, what="15 results")
        assert (alert["device_id"], alert["state"]) == ("box-2", "anomaly")
        assert alert["score"] > normal[-1]["threshold"]
        faulty = results.json_payloads("gateway/gw-alert/box-2/result")[12:]
        # Say why: the alert and the results name what drove the score.
        assert alert["reason"].startswith("2 of the last ") and "σ" in alert["reason"]
        assert all(r["details"]["why"] and r["details"]["drivers"] for r in faulty)
        device, = status_json(config)["devices"]
        assert device["streams"]["audio"]["state"] == "anomaly"
        assert device["streams"]["audio"]["why"] == faulty[-1]["details"]["why"]
        shown = _gateway_cli(config, "status")
        assert faulty[-1]["details"]["why"] in shown.stdout
        kinds = store_rows(tmp_path / "data", "SELECT kind, count(*) FROM outbox GROUP BY kind")
        assert dict(kinds) == {"result": 15, "alert": 1}
    finally:
        gateway.terminate()


def test_learning_is_spread_over_the_windows_time_by_the_real_daemon(tmp_path, broker,
                                                                    publisher, results):
    """baseline_hours spreads the 10 learning windows over 30 s of the box's time stamps
    (one per 3 s): of windows stamped 1 s apart, every third is learned, the others are
    published as learning, and scoring starts with the tenth taken, the 28th window."""
    config = _config(tmp_path, broker, "gw-spread", hours=30 / 3600)
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    topic = "gateway/gw-spread/box-s/result"
    try:
        for i in range(32):
            publisher.publish("sensors/box-s/audio", _wav("box-s", i),
                              ts_ms=1_732_350_000_000 + i * 1000)
            wait_for(lambda n=i + 1: len(results.json_payloads(topic)) >= n, timeout_s=30,
                     what=f"result {i}")
            if i == 12:
                stream = status_json(config)["devices"][0]["streams"]["audio"]
                assert stream["baseline_windows"] == 5  # windows 0, 3, 6, 9, 12
                shown = _gateway_cli(config, "status").stdout
                assert "learning baseline (5/10 windows, one every 3 s)" in shown
        got = sorted(results.json_payloads(topic), key=lambda r: r["ts"])
        passed_over = ["taken every" in r["details"]["why"] for r in got[:27]]
        assert passed_over == [i % 3 != 0 for i in range(27)]
        assert all(r["threshold"] is None for r in got[:28])
        assert all(r["threshold"] == 6.0 and r["anomaly"] is False for r in got[28:])
    finally:
        gateway.terminate()


def test_off_windows_pass_unlearned_and_an_unseen_fault_alerts_after_a_restart(
        tmp_path, broker, publisher, results):
    """Through the real daemon: a duty cycle while learning, the learned normal surviving a
    restart, off windows neither alarming nor learned, then a fault kind never heard."""
    config = _config(tmp_path, broker, "gw-cycle")
    data_dir = tmp_path / "data"
    topic = "gateway/gw-cycle/box-8/result"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:  # one window in four with the compressor off: 10 running windows in the first 14
        publisher.publish_all(("sensors/box-8/audio", _wav_running("box-8", i, i % 4 != 3))
                              for i in range(14))
        wait_for(lambda: len(results.json_payloads(topic)) == 14, timeout_s=30,
                 what="14 results")
    finally:
        gateway.terminate()
    (learned, fit), = store_rows(data_dir, "SELECT json_array_length(scores), "
                                           "json_extract(fit, '$.windows') FROM baselines")
    # Learning ended with the 13th window, the 10th running one; the fit used those 10 but
    # may have set aside a window or two that scored as outliers among them.
    assert learned == 13 and 8 <= fit <= 10
    gateway.start()
    try:
        publisher.publish_all(("sensors/box-8/audio", _wav_running("box-8", 50 + i, False))
                              for i in range(4))
        wait_for(lambda: len(results.json_payloads(topic)) == 18, timeout_s=30,
                 what="4 results for off windows")
        off = results.json_payloads(topic)[14:]
        assert all(r["anomaly"] is False and r["details"]["state"] == "off" for r in off)
        assert all(r["threshold"] == 6.0 for r in off)
        assert status_json(config)["devices"][0]["streams"]["audio"]["state"] == "off"
        assert store_rows(data_dir, "SELECT json_array_length(scores) FROM baselines") == [(13,)]
        publisher.publish_all(("sensors/box-8/audio", _wav("box-8", 100 + i, "rattle", 1.0))
                              for i in range(3))
        alert, = wait_for(lambda: results.json_payloads("gateway/gw-cycle/box-8/alert"),
                          timeout_s=30, what="an alert for a rattle")
        assert alert["state"] == "anomaly" and "σ" in alert["reason"]
        assert not results.json_payloads("gateway/gw-cycle/box-8/alert")[1:]
    finally:
        gateway.terminate()


def test_sigkill_during_analysis_leaves_exactly_one_result_per_window(tmp_path, broker,
                                                                     publisher):
    config = _config(tmp_path, broker, "gw-kill")
    data_dir = tmp_path / "data"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    windows = [("sensors/box-3/audio", _wav("box-3", i)) for i in range(150)]
    publisher.publish_all(windows)
    wait_for(lambda: _count(data_dir, "results") >= 5, what="analysis under way")
    gateway.kill()
    done_before = _count(data_dir, "results")
    assert done_before < 150, "the kill came too late to interrupt the analysis"
    gateway.start()
    try:
        wait_for(lambda: _count(data_dir, "results") == 150, timeout_s=60,
                 what="every window analysed after the restart")
        assert _count(data_dir, "windows") == 150
        assert _count(data_dir, "outbox", "kind = 'result'") == 150
        assert _count(data_dir, "analysis", "state = 'done'") == 150
        # Results computed but still waiting in the result writer at the kill were lost with
        # it: their windows were analysed again, not given up.
        assert _count(data_dir, "dead_letters") == 0
        (learned,), = store_rows(data_dir, "SELECT json_array_length(scores) FROM baselines")
        assert learned == 10
    finally:
        gateway.terminate()


def test_a_queue_file_damaged_by_a_power_cut_is_set_aside_and_no_window_is_lost(
        tmp_path, broker, publisher):
    # The queue file commits without fsync (wear): a power cut may damage it. Its tasks are
    # re-derived from the store, so the next start sets it aside and analyses every window.
    config = _config(tmp_path, broker, "gw-qcut")
    data_dir = tmp_path / "data"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    publisher.publish_all([("sensors/box-4/audio", _wav("box-4", i)) for i in range(150)])
    wait_for(lambda: _count(data_dir, "windows") == 150, what="the windows stored")
    gateway.kill()
    assert _count(data_dir, "results") < 150, "the kill came too late to leave tasks queued"
    queue_file = data_dir / "queue.db"
    with queue_file.open("r+b") as f:  # a torn first page: not a database any more ...
        f.write(b"\xff" * 512)
    wal = data_dir / "queue.db-wal"
    if wal.exists():  # ... and its WAL lost (else SQLite may read page 1 from there)
        wal.write_bytes(b"")
    gateway.start()
    try:
        wait_for(lambda: _count(data_dir, "results") == 150, timeout_s=60,
                 what="every window analysed after the restart")
        assert "the analysis queue file was damaged" in gateway.log_text()
        assert (data_dir / "queue.db.damaged").exists()
        assert _count(data_dir, "dead_letters") == 0
        assert _count(data_dir, "outbox", "kind = 'result'") == 150
    finally:
        gateway.terminate()


def test_sigterm_during_analysis_commits_every_computed_result(tmp_path, broker, publisher):
    config = _config(tmp_path, broker, "gw-term")
    data_dir = tmp_path / "data"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    publisher.publish_all(("sensors/box-7/audio", _wav("box-7", i)) for i in range(150))
    wait_for(lambda: _count(data_dir, "results") >= 5, what="analysis under way")
    assert gateway.terminate() == 0
    assert "gateway stopped" in gateway.log_text()
    # Every window a worker started on has its result: the result writer was flushed after
    # the workers stopped. (Windows not started yet have no analysis row at all.)
    assert _count(data_dir, "analysis", "state = 'trying'") == 0
    assert _count(data_dir, "results") == _count(data_dir, "analysis") > 0


def test_a_poison_window_is_dead_lettered_and_can_be_retried(tmp_path, broker):
    config = _config(tmp_path, broker, "gw-poison")
    data_dir = tmp_path / "data"
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    gateway.terminate()
    # A window whose stored bytes went bad (the only way past intake's validation).
    good = _wav("box-4", 1)
    # Received now: a window received in 1970 is older than any retention period, and
    # retention's first run (seconds after start) may clear a dead-lettered raw that old
    # before the retry below reads it.
    now_ms = int(time.time() * 1000)
    _write(data_dir, "INSERT INTO windows (device_id, stream, source, topic, captured_at_ms, "
           "received_at_ms, sample_rate, channels, frames, duration_s, encoding, digest, payload)"
           " VALUES ('box-4', 'audio', 'mqtt', 'sensors/box-4/audio', ?, ?, 16000, 1, 16000, 1.0,"
           " 'pcm16', x'01', ?)", (now_ms, now_ms, b"RIFF-not-really"))
    gateway.start()
    try:
        wait_for(lambda: status_json(config)["dead_letters"] == 1, what="a dead letter")
        listing = _gateway_cli(config, "dlq", "list")
        assert listing.returncode == 0 and "window 1" in listing.stdout
        assert "WavError" in listing.stdout
        assert _count(data_dir, "results") == 0
        _write(data_dir, "UPDATE windows SET payload = ? WHERE id = 1", (good,))
        retried = _gateway_cli(config, "dlq", "retry", "--all")
        assert retried.returncode == 0, retried.stderr
        # the retry's CLI and the analysis each take seconds on a loaded machine
        wait_for(lambda: _count(data_dir, "results") == 1, timeout_s=60,
                 what="the retried window's result")
        assert status_json(config)["dead_letters"] == 0
    finally:
        gateway.terminate()


def test_results_reach_the_broker_through_redis_workers(tmp_path, broker, publisher, results,
                                                       redis_url):
    config = _config(tmp_path, broker, "gw-redis", f'\n[queue]\nurl = "{redis_url}"\n')
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-5/audio", _wav("box-5", i)) for i in range(3))
        wait_for(lambda: len(results.json_payloads("gateway/gw-redis/box-5/result")) == 3,
                 what="three results via Redis")
    finally:
        gateway.terminate()


def test_a_missing_model_file_is_a_config_error(tmp_path, broker):
    config = _config(tmp_path, broker, "gw-model", inference=f'model = "{tmp_path / "x.tflite"}"')
    out = _gateway_cli(config, "run")
    assert out.returncode == 2 and "inference.model: file not found" in out.stderr


def test_a_misfit_model_is_named_and_the_daemon_runs_on_without_audio_analysis(tmp_path, broker):
    # Once a misfit model stopped the start with exit 1, which systemd restarts forever
    # (issue 13.2): now the daemon stores everything and says what is wrong with the model.
    model = tmp_path / "model.tflite"
    fixtures = REPO / "tests" / "fixtures"
    model.write_bytes((fixtures / "wrong_shape.tflite").read_bytes())
    (tmp_path / "model.json").write_text((fixtures / "wrong_shape.json").read_text())
    config = _config(tmp_path, broker, "gw-model", inference=f'model = "{model}"')
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        log_text = gateway.log_text()
        line = next(x for x in log_text.splitlines() if "part=audio_analysis" in x)
        assert str(model) in line and "shape" in line
        assert "Traceback" not in log_text
    finally:
        assert gateway.terminate() == 0


def _write(data_dir, sql: str, params=()) -> None:
    conn = sqlite3.connect(data_dir / "gateway.db")
    with conn:
        conn.execute(sql, params)
    conn.close()


def test_a_broker_outage_delays_results_but_loses_none(tmp_path, broker, publisher):
    config = _config(tmp_path, broker, "gw-outage")
    data_dir = tmp_path / "data"
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="result-watcher",
                          protocol=mqtt.MQTTv5)
    received: list[dict] = []
    watcher.on_message = lambda c, u, m: received.append(json.loads(m.payload))
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 600  # the broker keeps results for us across its restart
    watcher.on_connect = lambda c, *_: c.subscribe("gateway/gw-outage/+/result", qos=1)
    watcher.connect("127.0.0.1", broker.port, clean_start=False, properties=session)
    watcher.loop_start()
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-6/audio", _wav("box-6", i)) for i in range(100))
        # publish_all waits for the broker's acknowledgements, not the daemon's: windows
        # still queued in the broker for the daemon would only come after its restart
        wait_for(lambda: _count(data_dir, "windows") == 100, timeout_s=30,
                 what="every window stored by the daemon")
        broker.stop()  # the windows are stored (acknowledged); their results are not all out
        wait_for(lambda: _count(data_dir, "results") == 100, what="analysis while offline")
        assert _count(data_dir, "results", "published = 0") > 0
        broker.start()
        wait_for(lambda: _count(data_dir, "results", "published = 1") == 100, timeout_s=60,
                 what="results published after the broker came back")
        wait_for(lambda: len({r["id"] for r in received}) == 100, timeout_s=30,
                 what="every result at the subscriber")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        gateway.terminate()
