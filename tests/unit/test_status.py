"""`gateway status` on real store files in odd states: non-finite values, many devices, a
leaked secret in the uploader's state."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.config import MachineSection, load_config
from gateway.inference.features import severe_text, severe_zone
from gateway.ops.status import collect_status, render_status, status_json
from gateway.store.database import open_database

TOKEN = "tok'\\9f8e7d6c5b4a"  # with a quote and a backslash: repr changes it


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nid = "gw-st"\ndata_dir = "{tmp_path / "data"}"\n')
    config = load_config(path, environ={})
    open_database(config.store_path).close()
    return dataclasses.replace(config, sync=dataclasses.replace(config.sync, token=TOKEN))


def execute(config, sql: str, rows: list[tuple]) -> None:
    db = open_database(config.store_path)
    try:
        with db.atomic():
            db.conn.executemany(sql, rows)
    finally:
        db.close()


def add_devices(config, n: int) -> None:
    execute(config, "INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, "
                    "data) VALUES (?, 't', 1, 1, ?, '{}')",
            [(f"box-{i:05d}", i.to_bytes(8, "big")) for i in range(n)])


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_a_non_finite_baseline_and_score_are_shown_not_a_crash(config):
    # Issue 12.6: `Infinity` in a baseline's scores made json_array_length raise and
    # `gateway status` crash for the whole gateway.
    add_devices(config, 1)
    execute(config, "INSERT INTO baselines (device_id, stream, model, scores, threshold, "
                    "updated_at_ms) VALUES ('box-00000', 'vibration', 'm', ?, ?, 1)",
            [("[0.3, 0.31, Infinity, NaN]", float("inf"))])
    execute(config, "INSERT INTO device_states (device_id, stream, state, recent, last_score, "
                    "last_ts_ms, updated_at_ms) VALUES ('box-00000', 'vibration', 'normal', "
                    "'[]', ?, 1, 1)", [(float("inf"),)])
    status = collect_status(config)
    stream = status["devices"][0]["streams"]["vibration"]
    assert stream["baseline_windows"] == 4
    assert "normal, last score inf (threshold inf)" in render_status(status)
    doc = strict_loads(status_json(status))
    assert doc["devices"][0]["streams"]["vibration"]["threshold"] is None


def test_the_uploaders_last_error_is_shown_without_the_token(config):
    execute(config, "INSERT INTO sync_state (key, value) VALUES (?, ?)",
            [("last_error", f"InvalidHeader: header value {('Bearer ' + TOKEN)!r}"),
             ("consecutive_failures", "3")])
    status = collect_status(config)
    shown = render_status(status) + status_json(status)
    assert "***" in shown
    assert "9f8e7d6c5b4a" not in shown


def test_the_human_view_names_the_first_devices_and_counts_the_rest(config):
    # Issue 12.10: 50,000 devices (a flood of made-up ids) gave 2.7 MB of status text.
    add_devices(config, 50_000)
    execute(config, "INSERT INTO device_states (device_id, stream, state, recent, last_score, "
                    "last_ts_ms, updated_at_ms) VALUES (?, 'audio', 'anomaly', '[]', 9.0, 1, 1)",
            [("box-49999",), ("box-00003",)])
    status = collect_status(config)
    text = render_status(status)
    assert len(status["devices"]) == 50_000  # --json still lists every one
    assert len(text) < 20_000
    assert "box-00049" in text and "box-00050" not in text
    assert "... and 49950 more devices (1 of them in ANOMALY); gateway status --json lists " \
           "every one" in text


def test_status_shows_the_brokers_file_beside_the_data_dir(config, tmp_path):
    broker_file = tmp_path / "mosquitto.db"
    broker_file.write_bytes(b"\0" * (3 * 2**20))
    config = dataclasses.replace(config, retention=dataclasses.replace(
        config.retention, broker_store=str(broker_file)))
    status = collect_status(config)
    assert status["disk"]["broker_bytes"] == 3 * 2**20
    assert "the broker's file 3.0 MB" in render_status(status)


def vibration_alerting(config, device: str, why: str) -> None:
    execute(config, "INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, "
                    "data) VALUES (?, 't', 1, 1, ?, '{}')", [(device, b"\x01" * 8)])
    execute(config, "INSERT INTO device_states (device_id, stream, state, recent, last_score, "
                    "last_ts_ms, updated_at_ms, why) VALUES (?, 'vibration', 'anomaly', '[]', "
                    "1.0, 1, 1, ?)", [(device, why)])


def with_class(config, device: str, iso_class: str):
    return dataclasses.replace(config, machines={device: MachineSection(iso_class=iso_class)})


def test_a_healthy_big_machine_alerting_on_the_small_machines_limit_gets_a_hint(config):
    # reeferyard's reefvib-02 ran healthy at 1.9 mm/s: zone C of the default class I
    vibration_alerting(config, "reefvib-02", severe_text("C", "I", 1.9))
    status = collect_status(config)
    hint = status["devices"][0]["hints"][0]
    assert hint.startswith("1.90 mm/s is zone C in class I (small machines up to 15 kW), "
                           "zone B in class II")
    assert "zone B in class III" in hint and "zone A in class IV" in hint
    assert "[machines.reefvib-02]" in hint
    assert f"    hint:      {hint}" in render_status(status)
    assert strict_loads(status_json(status))["devices"][0]["hints"] == [hint]


def test_no_hint_when_every_larger_class_also_alerts_or_the_class_is_not_the_one_judged(config):
    vibration_alerting(config, "box-1", severe_text("D", "I", 5.0))  # zone C in II and III
    hint = collect_status(config)["devices"][0]["hints"][0]
    assert "class II" not in hint and "class III" not in hint
    assert "zone B in class IV" in hint
    assert "hints" not in collect_status(with_class(config, "box-1", "II"))["devices"][0]
    # the largest class has nothing larger to suggest
    execute(config, "UPDATE device_states SET why = ?", [(severe_text("D", "IV", 19.0),)])
    assert "hints" not in collect_status(with_class(config, "box-1", "IV"))["devices"][0]


def test_the_why_of_the_absolute_limit_reads_back():
    assert severe_zone(severe_text("C", "III", 4.567) + "; band +3σ") == \
        ("C", "III", 4.57)
    assert severe_zone("as usual") is None
