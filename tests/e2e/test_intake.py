"""End to end: a real Mosquitto, real paho publishers and the real `gateway run` process."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import numpy as np
import paho.mqtt.client as mqtt

from gateway.config import load_config
from gateway.wav import decode_wav, encode_wav
from tests.support import (
    Publisher,
    Subscriber,
    status_json,
    store_rows,
    stored_raw,
    wait_for,
)

TELEMETRY = {"device_id": "test-device-7", "timestamp": 1732350000.123, "temperature": -18.2,
             "vibration": {"x": 0.2, "y": 0.1, "z": 0.3}, "power_consumption": 45.2,
             "audio_level": 150, "sensor_quality": 0.95}


def _data_dir(config_path):
    return config_path.parent / "data"


def _sine_wav(seconds=1.0, rate=16_000, channels=1, encoding="pcm16") -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    return encode_wav(np.repeat(tone[:, None], channels, axis=1), rate, encoding)


def _count(data_dir, table, where="1=1") -> int:
    rows = store_rows(data_dir, f"SELECT count(*) FROM {table} WHERE {where}")
    return rows[0][0] if rows else 0


def test_each_stream_round_trips_into_the_store(gateway, gateway_config, publisher):
    data_dir = _data_dir(gateway_config)
    audio = _sine_wav(channels=2, encoding="pcm24")
    vibration = {"ts": 1732350001.5, "sample_rate": 3200, "unit": "g",
                 "x": [0.01] * 64, "y": [0.02] * 64, "z": [-0.03] * 64}
    publisher.publish("sensors/box-1/audio", audio, ts_ms=1732350000000).wait_for_publish(5)
    publisher.publish("sensors/box-1/vibration", json.dumps(vibration)).wait_for_publish(5)
    publisher.publish("sensors/test-device-7/telemetry", json.dumps(TELEMETRY)).wait_for_publish(5)

    wait_for(lambda: _count(data_dir, "windows") == 2 and _count(data_dir, "telemetry") == 1,
             what="three messages stored")
    (captured, rate, channels, encoding), = store_rows(
        data_dir, "SELECT captured_at_ms, sample_rate, channels, encoding FROM windows "
                  "WHERE stream = 'audio'")
    ((_, stored_audio),) = stored_raw(data_dir, "stream = 'audio'")
    assert stored_audio == audio
    assert (captured, rate, channels, encoding) == (1732350000000, 16000.0, 2, "pcm24")
    samples, _ = decode_wav(stored_audio)
    assert samples.shape == (16000, 2)
    (frames, captured_v, duration), = store_rows(
        data_dir, "SELECT frames, captured_at_ms, duration_s FROM windows WHERE stream = "
                  "'vibration'")
    assert (frames, captured_v, duration) == (64, 1732350001500, 64 / 3200)
    (device, ts_ms, data), = store_rows(data_dir, "SELECT device_id, ts_ms, data FROM telemetry")
    assert (device, ts_ms, json.loads(data)) == ("test-device-7", 1732350000123, TELEMETRY)

    status = status_json(gateway_config)
    assert status["received"] == {"audio": 1, "vibration": 1, "telemetry": 1}
    assert status["rejected"] == 0 and status["running"] is True


def test_a_mqtt_311_publisher_is_accepted(gateway, gateway_config, broker):
    old_box = Publisher(broker.port, protocol=mqtt.MQTTv311)
    try:
        old_box.publish("sensors/old-box/telemetry", json.dumps({"temperature": -20.5}))
        wait_for(lambda: _count(_data_dir(gateway_config), "telemetry") == 1,
                 what="3.1.1 telemetry stored")
    finally:
        old_box.close()


BAD_INPUTS = [
    ("sensors/box-1/telemetry", b"this is not json", "not_json"),
    ("sensors/box-1/audio", b"RIFX not a wave file at all", "not_wav"),
    ("sensors/box-1/audio", _sine_wav()[:20_000], "truncated_wav"),
    ("sensors/box-1/audio", _sine_wav()[:30], "truncated_wav"),
    ("sensors/box-1/audio", bytes.fromhex("52494646") + (36 + 16000).to_bytes(4, "little")
     + b"WAVEfmt " + (16).to_bytes(4, "little") + bytes.fromhex("01000100401f0000401f0000"
     "01000800") + b"data" + (16000).to_bytes(4, "little") + b"\x80" * 16000,
     "unsupported_encoding"),
    ("sensors/box-1/vibration", json.dumps({"sample_rate": 1000, "x": [1.0] * 10,
                                            "y": [1.0] * 9, "z": [1.0] * 10}), "unequal_arrays"),
    ("sensors/box-1/vibration", '{"sample_rate": 1000, "x": [NaN, 1, 2, 3, 4, 5, 6, 7], '
                                '"y": [1,2,3,4,5,6,7,8], "z": [1,2,3,4,5,6,7,8]}', "non_finite"),
    ("sensors/box-1/telemetry", '{"temperature": Infinity}', "non_finite"),
    ("sensors/box-1/telemetry", json.dumps({"temperature": 1, "pad": "x" * 200}) * 400,
     "oversize"),
    ("sensors/box-1/telemetry", json.dumps({"device_id": "box-2", "temperature": 1}),
     "device_mismatch"),
    ("sensors/box 1/telemetry", json.dumps({"temperature": 1}), "invalid_device_id"),
    ("sensors/box-1/pressure", json.dumps({"temperature": 1}), "unknown_stream"),
]


def test_every_class_of_bad_input_is_rejected_with_its_reason_and_the_daemon_lives(
        gateway, gateway_config, publisher):
    data_dir = _data_dir(gateway_config)
    publisher.publish_all((topic, payload) for topic, payload, _ in BAD_INPUTS)
    wait_for(lambda: _count(data_dir, "rejected") == len(BAD_INPUTS), what="all rejected")
    rows = store_rows(data_dir, "SELECT topic, reason, detail, payload_size, length(sample) "
                                "FROM rejected ORDER BY id")
    assert [(topic, reason) for topic, reason, *_ in rows] == [
        (topic, reason) for topic, _, reason in BAD_INPUTS]
    for (_, _, detail, size, sample_len), (_, payload, _) in zip(rows, BAD_INPUTS, strict=True):
        assert detail and size == len(payload) and sample_len == min(256, len(payload))
    assert _count(data_dir, "windows") == 0 and _count(data_dir, "telemetry") == 0

    publisher.publish("sensors/box-1/telemetry", json.dumps({"temperature": 3})).wait_for_publish()
    wait_for(lambda: _count(data_dir, "telemetry") == 1, what="valid message after bad ones")
    assert gateway.alive()
    status = status_json(gateway_config)
    assert status["rejected"] == len(BAD_INPUTS)
    assert status["rejected_by_reason"]["truncated_wav"] == 2
    assert "reason=not_json" in gateway.log_text()


def test_repeated_rejections_are_logged_with_a_rate_limit(gateway, gateway_config, publisher):
    publisher.publish_all([("sensors/box-1/telemetry", f"garbage {i}") for i in range(50)])
    wait_for(lambda: _count(_data_dir(gateway_config), "rejected") == 50, what="50 rejections")
    assert gateway.log_text().count("reason=not_json") == 1


def _telemetry_stream(count: int, device: str = "box-1"):
    for seq in range(count):
        yield f"sensors/{device}/telemetry", json.dumps({"seq": seq, "temperature": -18.0})


def test_sigkill_mid_stream_loses_nothing_and_stores_each_message_once(
        gateway, gateway_config, publisher):
    """Thousands of QoS 1 messages; the daemon is SIGKILLed mid-stream while publishing goes
    on; after a restart every message is stored exactly once."""
    data_dir = _data_dir(gateway_config)
    total = 6000
    messages = list(_telemetry_stream(total))
    infos = [publisher.publish(topic, payload) for topic, payload in messages[:3000]]
    wait_for(lambda: _count(data_dir, "telemetry") >= 500, what="intake under way")
    gateway.kill()
    infos += [publisher.publish(topic, payload) for topic, payload in messages[3000:]]
    for info in infos:
        info.wait_for_publish(30)  # the broker holds them for the gateway's session
    gateway.start()
    wait_for(lambda: _count(data_dir, "telemetry") >= total, timeout_s=60,
             what=f"{total} messages stored")
    time.sleep(0.5)  # anything redelivered late must still be deduplicated
    seqs = [json.loads(d)["seq"] for d, in store_rows(data_dir, "SELECT data FROM telemetry")]
    assert len(seqs) == total
    assert sorted(seqs) == list(range(total))
    assert status_json(gateway_config)["received"]["telemetry"] == total


def test_messages_published_while_the_gateway_is_stopped_arrive_after_restart(
        gateway, gateway_config, publisher):
    assert gateway.terminate() == 0
    publisher.publish_all(_telemetry_stream(200, "box-9"))
    assert _count(_data_dir(gateway_config), "telemetry") == 0
    assert status_json(gateway_config)["running"] is False
    gateway.start()
    wait_for(lambda: _count(_data_dir(gateway_config), "telemetry") == 200,
             what="queued messages delivered")


@contextmanager
def _status_states(config_path, port):
    """The states seen on the gateway's retained status topic, after "online" has arrived."""
    topic = f"gateway/{load_config(config_path).gateway.id}/status"
    watcher = Subscriber(port, topic)
    try:
        def states():
            return [doc["state"] for doc in watcher.json_payloads(topic)]

        wait_for(lambda: states() == ["online"], what="retained online status")
        yield states
    finally:
        watcher.close()


def test_sigterm_stops_cleanly_and_announces_offline(gateway, gateway_config, broker):
    with _status_states(gateway_config, broker.port) as states:
        assert gateway.terminate() == 0
        wait_for(lambda: states()[-1] == "offline", what="offline status")
    assert 'msg="gateway stopped"' in gateway.log_text()


def test_sigkill_leaves_offline_as_the_last_will(gateway, gateway_config, broker):
    with _status_states(gateway_config, broker.port) as states:
        gateway.kill()
        wait_for(lambda: states()[-1] == "offline", timeout_s=60, what="last will")


def test_broker_restart_reconnects_and_loses_nothing(gateway, gateway_config, broker, publisher):
    data_dir = _data_dir(gateway_config)
    publisher.publish_all(_telemetry_stream(100, "box-a"))
    wait_for(lambda: _count(data_dir, "telemetry") == 100, what="first 100")
    broker.stop()
    broker.start()
    box = Publisher(broker.port)
    try:
        box.publish_all(_telemetry_stream(100, "box-b"))
        wait_for(lambda: _count(data_dir, "telemetry") == 200, timeout_s=60,
                 what="messages after broker restart")
    finally:
        box.close()
    assert gateway.alive()
