"""The metrics endpoint, scraped over HTTP and parsed as Prometheus would."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import __version__
from gateway.config import MetricsSection
from gateway.service.metrics import GatewayMetrics, MetricsError, start_metrics_server

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
