"""What a real box in the field does to the daemon (issue 13): a clean stop leaves the store
checkpointed, READY=1 follows the broker subscription at once, a message far ahead of the
clock is kept and flagged, a missing TFLite runtime or PyAudio degrades instead of exiting."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.devtools import synth
from gateway.store.database import open_database
from gateway.store.outbox import read_batch
from gateway.store.record_ids import store_id_of
from gateway.wav import encode_wav
from tests.e2e.test_service import NotifySocket, start_daemon
from tests.support import REPO, GatewayProcess, store_rows, wait_for, write_config

YEAR_2100_S = 4_102_444_800


def _windows(n: int) -> list[tuple[str, bytes]]:
    profile = synth.profile_for("box-1")
    rng = np.random.default_rng(0)
    return [("sensors/box-1/audio",
             encode_wav(synth.audio_window(profile, t0_s=float(i), rng=rng), 16_000, "pcm16"))
            for i in range(n)]


def test_a_clean_stop_leaves_the_store_checkpointed(tmp_path, gateway, publisher):
    # Issue 13.5: each worker's store connection was never closed: after SIGTERM the WAL kept
    # 6-18 MB and the NORMAL-sync commits after the last FULL one were never fsynced.
    data_dir = tmp_path / "data"
    publisher.publish_all(_windows(6) + [("sensors/box-1/telemetry", json.dumps({"n": n}))
                                         for n in range(20)])
    wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM results") == [(6,)],
             timeout_s=30, what="six windows analysed")
    assert gateway.terminate() == 0
    wal = data_dir / "gateway.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size


def _log_arrival(path, needle: str, timeout_s: float = 20.0) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError(f"{needle!r} never logged")


def test_ready_follows_the_subscription_at_once(tmp_path, broker):
    # Issue 13.11: the main loop's first tick waited a whole second before READY=1.
    notify = NotifySocket(tmp_path / "notify.sock")
    config = write_config(tmp_path / "c.toml", gateway_id="gw-ready", data_dir=tmp_path / "data",
                          port=broker.port)
    proc = start_daemon(config, tmp_path, tmp_path / "notify.sock")
    try:
        subscribed = _log_arrival(tmp_path / "gw.log", "msg=subscribed")
        wait_for(lambda: notify.lines("READY=1"), timeout_s=20, what="READY=1")
        ready_at = next(t for t, line in notify.messages if line == "READY=1")
        assert ready_at - subscribed < 0.4, ready_at - subscribed
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        notify.close()


def test_a_message_far_ahead_of_the_clock_is_kept_and_flagged(tmp_path, gateway, publisher,
                                                              gateway_config):
    # Issue 13.1: a year-2100 ts was acknowledged and rejected as bad_timestamp.
    data_dir = tmp_path / "data"
    publisher.publish_all([("sensors/box-1/telemetry",
                            json.dumps({"timestamp": YEAR_2100_S, "t": -18.2, "seq": 4}))])
    wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(1,)],
             timeout_s=15, what="the year-2100 message stored")
    ts_ms, received, flag = store_rows(data_dir, "SELECT ts_ms, received_at_ms, ts_flag "
                                                 "FROM telemetry")[0]
    assert (ts_ms, flag) == (YEAR_2100_S * 1000, "ahead")
    assert abs(received - time.time() * 1000) < 60_000
    assert store_rows(data_dir, "SELECT count(*) FROM rejected") == [(0,)]
    # and it goes upstream with the box's time, as sent
    db = open_database(data_dir / "gateway.db", read_only=True)
    batch = read_batch(db.conn, store_id_of(db.conn), 10, 1 << 20)
    db.close()
    assert [json.loads(piece)["ts"] for piece in batch.pieces] == [YEAR_2100_S * 1000]
    status = subprocess.run([sys.executable, "-m", "gateway", "status", "-c", str(gateway_config),
                             "--json"], capture_output=True, text=True, cwd=REPO, timeout=30)
    doc = json.loads(status.stdout)
    assert doc["ts_flagged"] == {"telemetry:ahead": 1}
    assert doc["clock"]["problem"] == ""
    assert doc["sequence_gaps"][0]["last_seq"] == 4


def _vibration(n: int) -> tuple[str, str]:
    t = np.arange(3200) / 3200
    axis = (0.5 * np.sin(2 * np.pi * 50 * t + n)).round(5).tolist()
    return "sensors/box-1/vibration", json.dumps({"sample_rate": 3200, "x": axis, "y": axis,
                                                  "z": axis})


def _start(config, log_path, extra_env: dict[str, str]) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config)],
                                stdout=log, stderr=subprocess.PIPE, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **extra_env})


def _status(config) -> dict:
    result = subprocess.run([sys.executable, "-m", "gateway", "status", "-c", str(config),
                             "--json"], capture_output=True, text=True, cwd=REPO, timeout=30)
    return json.loads(result.stdout)


def test_without_a_tflite_runtime_the_daemon_runs_on_and_catches_up(tmp_path, gateway_config,
                                                                    publisher):
    # Issue 13.2: on a 32-bit Pi OS (no LiteRT wheel) `run` exited 1: a crash loop.
    stub = tmp_path / "no-runtime"
    (stub / "ai_edge_litert").mkdir(parents=True)
    (stub / "ai_edge_litert" / "__init__.py").write_text(
        "raise ImportError('no ai-edge-litert wheel for armv7l')\n")
    log_path = tmp_path / "gateway.log"
    proc = _start(gateway_config, log_path, {"PYTHONPATH": str(stub)})
    data_dir = tmp_path / "data"
    try:
        wait_for(lambda: "msg=subscribed" in log_path.read_text(), timeout_s=20,
                 what="the daemon subscribed without a runtime")
        publisher.publish_all(_windows(2) + [_vibration(0), _vibration(1)])
        wait_for(lambda: store_rows(data_dir, "SELECT stream, count(*) FROM results GROUP BY 1")
                 == [("vibration", 2)], timeout_s=20, what="vibration analysed")
        wait_for(lambda: (_status(gateway_config).get("daemon") or {}).get("unavailable"),
                 timeout_s=20, what="the daemon's state written")
        status = _status(gateway_config)
        assert "audio_analysis" in status["daemon"]["unavailable"]
        assert status["received"]["audio"] == 2 and status["pending_inference"] == 2
        assert status["dead_letters"] == 0
        text = subprocess.run([sys.executable, "-m", "gateway", "status", "-c",
                               str(gateway_config)], capture_output=True, text=True, cwd=REPO,
                              timeout=30).stdout
        assert "AUDIO ANALYSIS UNAVAILABLE: " in text and "no TFLite runtime" in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
    again = GatewayProcess(gateway_config, log_path).start()  # the runtime is back
    try:
        wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM results WHERE stream = "
                                              "'audio'") == [(2,)],
                 timeout_s=30, what="the audio windows caught up")
        assert store_rows(data_dir, "SELECT count(*) FROM dead_letters") == [(0,)]
    finally:
        again.ensure_stopped()


@pytest.mark.skipif(importlib.util.find_spec("pyaudio") is not None,
                    reason="PyAudio is installed here")
def test_an_enabled_microphone_without_pyaudio_degrades_instead_of_exiting(
        tmp_path, gateway_config, publisher):
    # Issue 13.3: `run` exited 1 (a crash loop) with a pip hint that does not apply to an
    # installed box. Now: no mic source, said in the log and status; the rest runs.
    config = tmp_path / "mic.toml"
    config.write_text(gateway_config.read_text() + "\n[mic]\nenabled = true\n")
    process = GatewayProcess(config, tmp_path / "mic.log").start()
    try:
        assert "--mic" in process.log_text() and "part=mic" in process.log_text()
        publisher.publish_all([("sensors/box-1/telemetry", '{"t": 1}')])
        wait_for(lambda: _status(config)["received"]["telemetry"] == 1, timeout_s=15,
                 what="telemetry stored")
        wait_for(lambda: "mic" in ((_status(config).get("daemon") or {}).get("unavailable")
                                   or {}), timeout_s=20, what="mic unavailable in status")
        assert process.terminate() == 0
    finally:
        process.ensure_stopped()


def test_sequence_user_properties_through_the_broker_count_gaps(tmp_path, gateway, publisher,
                                                                gateway_config):
    # Issue 13.4: audio and vibration number their messages in the MQTT v5 user property seq.
    def numbered(topic: str, payload, seq: int, ts_ms: int | None = None):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("seq", str(seq))] + ([("ts", str(ts_ms))] if ts_ms else [])
        return publisher.client.publish(topic, payload, qos=1, properties=props)

    vib_topic, _ = _vibration(0)
    infos = [numbered(vib_topic, _vibration(n)[1], seq) for n, seq in enumerate((1, 2, 5))]
    silence = encode_wav(np.zeros(8000, np.float32), 16_000, "pcm16")
    infos += [numbered("sensors/box-1/audio", silence, seq) for seq in (10, 11, 13)]
    for info in infos:
        info.wait_for_publish(10)
    data_dir = tmp_path / "data"
    wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM windows") == [(6,)],
             timeout_s=15, what="six numbered windows stored (identical audio told apart)")
    gaps = {(g["stream"], g["gaps"], g["last_seq"]) for g in _status(gateway_config)
            ["sequence_gaps"]}
    assert gaps == {("vibration", 2, 5), ("audio", 1, 13)}


def test_a_clock_behind_the_store_shows_in_the_status_line(tmp_path, broker):
    # Issue 13.1: a Pi booted at its last saved time is behind what it already stored.
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "c.toml", gateway_id="gw-clock", data_dir=data_dir,
                          port=broker.port)
    GatewayProcess(config, tmp_path / "first.log").start().terminate()
    ahead = int(time.time() * 1000) + 86_400_000  # stored while the clock was a day ahead
    conn = sqlite3.connect(data_dir / "gateway.db")
    with conn:
        conn.execute("INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, "
                     "data) VALUES ('box-1', 'sensors/box-1/telemetry', ?, ?, x'01', '{}')",
                     (ahead, ahead))
    conn.close()
    notify = NotifySocket(tmp_path / "notify.sock")
    proc = start_daemon(config, tmp_path, tmp_path / "notify.sock")
    try:
        wait_for(lambda: any("CLOCK WRONG" in line for line in notify.lines("STATUS=")),
                 timeout_s=20, what="CLOCK WRONG in the STATUS line")
        assert "went backwards" in _status(config)["clock"]["problem"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        notify.close()


def test_doctor_prints_nothing_of_litert(tmp_path, gateway_config):
    # Issue 13.10: LiteRT's INFO line stood at the top of doctor's output.
    out = subprocess.run([sys.executable, "-m", "gateway", "doctor", "-c", str(gateway_config)],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "PASS  model" in out.stdout, out.stdout
    assert "TensorFlow" not in out.stdout + out.stderr and out.stderr == ""
