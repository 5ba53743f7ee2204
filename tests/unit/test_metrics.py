"""The metrics endpoint, scraped over HTTP and parsed as Prometheus would."""

from __future__ import annotations

import json
import re
import socket
import typing
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import __version__
from gateway.config import IntakeSection, MetricsSection, load_config
from gateway.intake.payloads import Inbound, parse_message
from gateway.service.metrics import GatewayMetrics, MetricsError, start_metrics_server
from gateway.service.observe import metrics_snapshot
from gateway.store import counters
from gateway.store.database import IntakeStore
from tests.support import write_config

METRICS_MD = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

SNAPSHOT = {
    "received": {"audio": 12, "vibration": 3, "telemetry": 40},
    "rejected": {"telemetry": {"not_json": 2}, "unknown": {"bad_topic": 1}},
    "analysed": {"audio": {"normal": 10, "anomaly": 1}, "vibration": {"dead": 1}},
    "synced": 51,
    "uploads": {"accepted": 4, "retry": 1, "paused": 0, "rejected": 0},
    "queue_depth": 2,
    "dead_letters": {"inference": 1, "sync": 0},
    "upload_backlog": 120,
    "disk_used_bytes": 5_000_000,
    "disk_budget_bytes": 2048 * 1024 * 1024,
    "disk_free_bytes": 9_000_000_000,
    "loop_silence_seconds": {"intake": 0.5},
    "sequence_gaps": {"vibration": {"box-1": 3}},
    "sequence_restarts": {"vibration": {"box-1": 1}},
    "ts_flagged": {"telemetry": {"ahead": 7}},
    "silent": {"audio": {"box-2": 1}},
    "unavailable": {"audio_analysis": 1},
    "clock_wrong": 1,
    "clock_jumps": 2,
    "storage_written_bytes": 7_000_000_000,
    "storage_written_bytes_per_day": 20e9,
    "storage_write_window_seconds": 7200.0,
    "card_life_projected_years": 4.5,
}


@pytest.fixture
def serve():
    servers = []

    def start(snapshot):
        metrics = GatewayMetrics(snapshot)
        server = start_metrics_server(MetricsSection(host="127.0.0.1", port=0), metrics.registry)
        servers.append(server)
        return metrics, server

    yield start
    for server in servers:
        server.stop()


def scrape(server) -> dict[tuple[str, tuple], float]:
    host, port = server.address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_snapshot_values_appear_in_the_scrape(serve):
    calls = []
    metrics, server = serve(lambda: calls.append(1) or SNAPSHOT)
    samples = scrape(server)
    assert calls, "the snapshot is read at scrape time"
    assert samples[("sensor_gateway_messages_received_total", (("stream", "audio"),))] == 12
    assert samples[("sensor_gateway_messages_rejected_total",
                    (("reason", "bad_topic"), ("stream", "unknown")))] == 1
    assert samples[("sensor_gateway_windows_analysed_total",
                    (("outcome", "anomaly"), ("stream", "audio")))] == 1
    assert samples[("sensor_gateway_records_synced_total", ())] == 51
    assert samples[("sensor_gateway_upload_batches_total", (("result", "retry"),))] == 1
    assert samples[("sensor_gateway_queue_depth", ())] == 2
    assert samples[("sensor_gateway_dead_letters", (("stage", "inference"),))] == 1
    assert samples[("sensor_gateway_upload_backlog_records", ())] == 120
    assert samples[("sensor_gateway_disk_budget_bytes", ())] == 2048 * 1024 * 1024
    assert samples[("sensor_gateway_loop_silence_seconds", (("loop", "intake"),))] == 0.5
    assert samples[("sensor_gateway_snapshot_ok", ())] == 1
    assert samples[("sensor_gateway_sequence_gaps_total",
                    (("device", "box-1"), ("stream", "vibration")))] == 3
    assert samples[("sensor_gateway_ts_flagged_records",
                    (("flag", "ahead"), ("stream", "telemetry")))] == 7
    assert samples[("sensor_gateway_device_silent",
                    (("device", "box-2"), ("stream", "audio")))] == 1
    assert samples[("sensor_gateway_part_unavailable", (("part", "audio_analysis"),))] == 1
    assert samples[("sensor_gateway_clock_wrong", ())] == 1
    assert samples[("sensor_gateway_storage_written_bytes_total", ())] == 7_000_000_000
    assert samples[("sensor_gateway_storage_written_bytes_per_day", ())] == 20e9
    assert samples[("sensor_gateway_storage_write_window_seconds", ())] == 7200
    assert samples[("sensor_gateway_card_life_projected_years", ())] == 4.5


def test_inference_histogram_counts_observations(serve):
    metrics, server = serve(lambda: {})
    for seconds in (0.004, 0.004, 0.04):
        metrics.observe_inference("audio", seconds)
    samples = scrape(server)
    assert samples[("sensor_gateway_inference_seconds_count", (("stream", "audio"),))] == 3
    assert samples[("sensor_gateway_inference_seconds_bucket",
                    (("le", "0.005"), ("stream", "audio")))] == 2
    assert samples[("sensor_gateway_inference_seconds_bucket",
                    (("le", "0.05"), ("stream", "audio")))] == 3


def test_a_failing_snapshot_still_answers_and_says_so(serve):
    def broken():
        raise RuntimeError("database is locked")

    _, server = serve(broken)
    samples = scrape(server)
    assert samples[("sensor_gateway_snapshot_ok", ())] == 0
    assert not any(name.startswith("sensor_gateway_messages") for name, _ in samples)
    assert ("sensor_gateway_build_info", (("version", __version__),)) in samples


def test_the_registry_is_not_the_global_one(serve):
    _, server = serve(lambda: {})
    names = {name for name, _ in scrape(server)}
    assert "process_resident_memory_bytes" in names  # registered on the gateway's own registry
    assert not any(name.startswith("python_") for name in names)  # the global one's defaults


def test_disabled_metrics_start_nothing():
    assert start_metrics_server(MetricsSection(enabled=False), GatewayMetrics(dict).registry) \
        is None


def test_a_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MetricsError, match=rf"127\.0\.0\.1:{port}.*metrics\.port"):
            start_metrics_server(MetricsSection(port=port), GatewayMetrics(dict).registry)


def test_stop_frees_the_port(serve):
    _, server = serve(lambda: {})
    host, port = server.address
    server.stop()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, port))


def test_every_metric_is_documented(serve):
    metrics, server = serve(lambda: SNAPSHOT)
    metrics.observe_inference("audio", 0.01)
    names = {re.sub(r"_(total|bucket|count|sum|created)$", "", name)
             for name, _ in scrape(server) if name.startswith("sensor_gateway_")}
    documented = set(re.findall(r"^\| `(sensor_gateway_\w+)`", METRICS_MD.read_text(),
                                flags=re.M))
    documented = {re.sub(r"_total$", "", name) for name in documented}
    assert names == documented


def test_the_store_figures_of_the_field_items_reach_the_snapshot(tmp_path):
    # Sequence gaps, flagged time stamps and silent streams come from the store at scrape time.
    config = load_config(write_config(tmp_path / "c.toml", gateway_id="gw-m",
                                      data_dir=tmp_path / "data", port=1883))
    store = IntakeStore(config.store_path)
    rx = 1_800_000_000_000
    records = [parse_message(Inbound("sensors/box-1/telemetry",
                                     json.dumps({"seq": seq, "timestamp": ts}).encode(), rx),
                             "sensors", IntakeSection()) for seq, ts in ((1, None), (5, 4.1e9))]
    store.write_batch(records)
    store.db.execute("INSERT INTO device_activity VALUES ('box-2', 'audio', 1, 5, 2)")
    store.db.conn.commit()
    snap = metrics_snapshot(config, 0, {}, unavailable={"mic": "no PyAudio"})
    store.close()
    assert snap["sequence_gaps"] == {"telemetry": {"box-1": 3}}
    assert snap["ts_flagged"] == {"telemetry": {"ahead": 1}}
    assert snap["silent"] == {"audio": {"box-2": 1}}
    assert snap["unavailable"] == {"mic": 1} and snap["clock_wrong"] == 0


# --- labels: the table's label column against what is served and what the gateway uses ----

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


def documented_labels() -> dict[str, dict[str, set[str] | None]]:
    """metric (without _total) -> {label: its documented values, or None when not listed}."""
    table = {}
    for name, cell in re.findall(r"^\| `(sensor_gateway_\w+)` \| \w+ \|([^|]*)\|",
                                 METRICS_MD.read_text(), flags=re.M):
        labels = {}
        for label, values in re.findall(r"`(\w+)`(?: \(([^)]*)\))?", cell):
            labels[label] = set(re.findall(r"`(\w+)`", values)) if values else None
        table[re.sub(r"_total$", "", name)] = labels
    return table


def test_every_metric_has_the_documented_labels(serve):
    metrics, server = serve(lambda: SNAPSHOT)
    metrics.observe_inference("audio", 0.01)
    served: dict[str, set[str]] = {}
    for name, labels in scrape(server):
        if name.startswith("sensor_gateway_"):
            base = re.sub(r"_(total|bucket|count|sum|created)$", "", name)
            served.setdefault(base, set()).update(k for k, _ in labels if k != "le")
    documented = documented_labels()
    for name, labels in served.items():
        assert set(documented[name]) == labels, name


def test_documented_loops_are_the_loops_the_daemon_watches():
    daemon = (GATEWAY / "daemon.py").read_text()
    watched = set()
    for args in re.findall(r"self\._watch\(([^)]*)\)", daemon):
        watched |= set(re.findall(r'"(\w+)"', args))
    watched |= set(re.findall(r'heartbeats\.(?:register|watch)\("(\w+)"', daemon))
    beats = set(re.findall(r'_beat\("(\w+)"\)|heartbeats\.beat\("(\w+)"\)', daemon))
    assert {"main", "intake", "uplink"} <= watched
    assert {name for pair in beats for name in pair if name} <= watched
    assert documented_labels()["sensor_gateway_loop_silence_seconds"]["loop"] == watched


def test_documented_upload_results_are_the_ones_counted():
    # The counter's names take only these (store/counters.py; mypy checks every caller).
    counted = set(typing.get_args(counters.UploadResult))
    assert counted == {"accepted", "rejected", "retry", "paused"}
    assert documented_labels()["sensor_gateway_upload_batches"]["result"] == counted
