"""What a technician runs against a live gateway: doctor, status, metrics, baseline reset."""

from __future__ import annotations

import datetime
import subprocess
import sys
import tomllib
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.devtools import synth
from gateway.devtools.local_broker import free_port
from gateway.devtools.receiver.server import serve
from gateway.ops.doctor import check_clock
from gateway.wav import encode_wav
from tests.support import REPO, GatewayProcess, status_json, store_rows, wait_for, write_config


def gateway_cli(config, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args, "-c", str(config)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def _synced(tmp_path, server) -> str:
    """A [sync] section that reaches the reference receiver with the right token."""
    token = tmp_path / "good-token"
    token.write_text("the-right-token")
    return f'[sync]\nurl = "{server.url}"\ntoken_file = "{token}"\n'


def test_doctor_passes_on_a_healthy_gateway_and_names_the_fix_otherwise(tmp_path, broker):
    server = serve(token="the-right-token")
    (tmp_path / "data").mkdir()  # the installer makes it; doctor never does
    config = write_config(tmp_path / "ok.toml", gateway_id="gw-doc", data_dir=tmp_path / "data",
                          port=broker.port, extra=_synced(tmp_path, server))
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        # The card's life is checked on what the running daemon measured (issue 14).
        wait_for(lambda: status_json(config)["card_wear"]["bytes_per_day"] is not None,
                 timeout_s=40, interval_s=1, what="the daemon's write rate")
        out = gateway_cli(config, "doctor")
    finally:
        gateway.terminate()
        server.stop()
    lines = out.stdout.splitlines()
    for name in ("config", "storage", "broker", "model", "uplink", "card"):
        assert any(line.startswith("PASS") and f" {name} " in f"{line} " for line in lines), \
            (name, out.stdout)
    clock_ok = any(line.startswith("PASS  clock") for line in lines)
    assert out.returncode == (0 if clock_ok else 1), out.stdout  # a container may lack NTP
    bad = write_config(tmp_path / "bad.toml", gateway_id="gw-doc2",
                       data_dir=tmp_path / "data2", port=free_port())
    out = gateway_cli(bad, "doctor")
    assert out.returncode == 1
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAIL  broker")]
    assert failed and "cannot reach" in failed[0]
    assert "-> check mosquitto runs" in out.stdout


def test_doctor_refuses_a_clock_before_the_build_date():
    check = check_clock(now=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                        ntp_state=lambda: "yes")
    assert not check.ok and "before this software was built" in check.detail
    assert check_clock(ntp_state=lambda: "no").ok is False
    # issue 13.9: an NTP state doctor cannot read passed
    unknown = check_clock(ntp_state=lambda: None)
    assert unknown.ok is False and "NTP state unknown" in unknown.detail


def test_metrics_endpoint_serves_the_stores_figures(tmp_path, broker, publisher):
    config = write_config(tmp_path / "m.toml", gateway_id="gw-metrics",
                          data_dir=tmp_path / "data", port=broker.port)
    port = tomllib.loads(config.read_text())["metrics"]["port"]
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish("sensors/box-1/telemetry", '{"temperature": 3.5}').wait_for_publish(5)
        publisher.publish("sensors/box-1/telemetry", b"not json").wait_for_publish(5)
        samples = wait_for(lambda: _scrape(port, "sensor_gateway_messages_rejected_total"),
                           what="a rejection in the metrics")
        assert samples == {frozenset({("stream", "telemetry"), ("reason", "not_json")}): 1.0}
        received = _scrape(port, "sensor_gateway_messages_received_total")
        assert received[frozenset({("stream", "telemetry")})] == 1.0
    finally:
        gateway.terminate()


def _scrape(port: int, name: str) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[frozenset(sample.labels.items())] = sample.value
    return found


def test_baseline_reset_makes_a_device_learn_again(tmp_path, broker, publisher):
    config = write_config(tmp_path / "b.toml", gateway_id="gw-base", data_dir=tmp_path / "data",
                          port=broker.port,
                          extra="[inference]\nbaseline_windows = 10\nbaseline_hours = 0\n")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        rng = np.random.default_rng(3)
        windows = [encode_wav(synth.audio_window(synth.profile_for("box-9"), rng=rng)[:, None],
                              16_000) for _ in range(11)]
        publisher.publish_all(("sensors/box-9/audio", w) for w in windows)
        wait_for(lambda: _stream(config)["state"] == "normal", timeout_s=30,
                 what="the baseline learned")
        out = gateway_cli(config, "baseline", "reset", "box-9")
        assert out.returncode == 0 and "baseline reset" in out.stdout
        assert store_rows(tmp_path / "data", "SELECT count(*) FROM baselines") == [(0,)]
        publisher.publish_all([("sensors/box-9/audio", windows[0][:-2] + b"\x00\x01")])
        wait_for(lambda: _stream(config).get("baseline_windows") == 1, timeout_s=20,
                 what="learning from scratch")
        assert _stream(config)["state"] == "learning"
        out = gateway_cli(config, "baseline", "reset", "no-such-box")
        assert out.returncode == 1 and "no baseline" in out.stderr
    finally:
        gateway.terminate()


def _stream(config) -> dict:
    devices = status_json(config)["devices"]
    return devices[0]["streams"].get("audio", {}) if devices else {}


DOCTOR_STATES = {
    "disk_low": ("{synced}[retention]\nmin_free_mb = 1000000\n", "storage", "MB free"),
    "uplink_unauthorised": ("[sync]\nurl = \"{url}\"\ntoken_file = \"{token}\"\n", "uplink",
                            "refused the token"),
    "model_broken": ("{synced}[inference]\nmodel = \"{model}\"\n", "model", "shape"),
    "sync_off": ("", "uplink", "sync.url is empty"),
}


@pytest.mark.parametrize("state", sorted(DOCTOR_STATES))
def test_doctor_names_each_broken_state_and_what_to_do(tmp_path, broker, state):
    server = serve(token="the-right-token")
    try:
        token = tmp_path / "token"
        token.write_text("a-wrong-token")
        model = tmp_path / "model.tflite"
        model.write_bytes((REPO / "tests/fixtures/wrong_shape.tflite").read_bytes())
        (tmp_path / "model.json").write_text(
            (REPO / "tests/fixtures/wrong_shape.json").read_text())
        extra, check, words = DOCTOR_STATES[state]
        (tmp_path / "data").mkdir()
        config = write_config(tmp_path / "d.toml", gateway_id="gw-doc3",
                              data_dir=tmp_path / "data", port=broker.port,
                              extra=extra.format(url=server.url, token=token, model=model,
                                                 synced=_synced(tmp_path, server)))
        out = gateway_cli(config, "doctor")
    finally:
        server.stop()
    assert out.returncode == 1
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    # no daemon runs here, so the card's life is not checked: never a pass (issue 14)
    assert "FAIL  card     card life not checked: the daemon is not running" in failed[-1]
    failed = failed[:-1]
    assert len(failed) == 1 + (not any(x.startswith("PASS  clock") for x in
                                       out.stdout.splitlines())), out.stdout
    # a container may lack NTP: a clock doctor cannot vouch for fails too, on its own line
    failed = [line for line in failed if not line.startswith("FAIL  clock")]
    assert failed[0].startswith(f"FAIL  {check}") and words in failed[0], out.stdout
    assert "->" in out.stdout


def test_status_shows_broker_down_and_sync_paused(tmp_path, broker, publisher):
    server = serve(token="the-right-token")
    token = tmp_path / "token"
    token.write_text("a-wrong-token")
    config = write_config(tmp_path / "s.toml", gateway_id="gw-stat", data_dir=tmp_path / "data",
                          port=broker.port,
                          extra=f'[sync]\nurl = "{server.url}"\ntoken_file = "{token}"\n'
                                'interval_s = 1\n')
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish("sensors/box-1/telemetry", '{"temperature": 2.0}').wait_for_publish(5)
        wait_for(lambda: status_json(config)["sync"]["paused"] == "auth", timeout_s=20,
                 what="sync paused on the refused token")
        text = gateway_cli(config, "status").stdout
        assert "PAUSED: the cloud refused the token" in text and "1 waiting" in text
        broker.stop()
        wait_for(lambda: "BROKER NOT CONNECTED" in gateway_cli(config, "status").stdout,
                 timeout_s=30, what="status to show the broker down")
    finally:
        gateway.terminate()
        server.stop()


def test_status_shows_raw_intake_refused_when_the_disk_is_short(tmp_path, broker, publisher):
    config = write_config(tmp_path / "f.toml", gateway_id="gw-full", data_dir=tmp_path / "data",
                          port=broker.port, extra="[retention]\nmin_free_mb = 1000000\n")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        wait_for(lambda: status_json(config)["raw_intake_refused"], timeout_s=30,
                 what="retention to refuse raw intake")
        text = gateway_cli(config, "status").stdout
        assert "DISK FULL" in text and "docs/retention.md" in text
        rng = np.random.default_rng(4)
        wav = encode_wav(synth.audio_window(synth.profile_for("box-f"), rng=rng)[:, None], 16_000)
        publisher.publish("sensors/box-f/audio", wav).wait_for_publish(5)
        publisher.publish("sensors/box-f/telemetry", '{"temperature": 1.0}').wait_for_publish(5)
        status = wait_for(lambda: (s := status_json(config))["rejected"] and s,
                          what="the window refused")
        assert status["rejected_by_reason"] == {"disk_full": 1}
        assert status["received"]["telemetry"] == 1  # telemetry is still taken
    finally:
        gateway.terminate()
