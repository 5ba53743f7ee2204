"""Issue 14: the real `gateway run` measures what it writes to the card; `gateway status
--json`, the metrics and `gateway doctor` show the rate and the card life it projects, and
doctor warns on a card configured too small to last two years."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.service.wear import PROC_IO
from tests.support import (
    REPO,
    GatewayProcess,
    in_memory_file_system,
    status_json,
    wait_for,
    write_config,
)

# 1 MB enduring 10 full writes: whatever the daemon writes in a day wears it out in days.
TINY_CARD = "[storage]\ncard_gb = 0.001\ncard_endurance_writes = 10\n"


def doctor(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "doctor", "-c", str(config)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def card_line(out: subprocess.CompletedProcess) -> str:
    return next(line for line in out.stdout.splitlines() if line[6:].startswith("card "))


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {s.name: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name.startswith("sensor_gateway_")}


@pytest.fixture(autouse=True)
def _writes_reach_storage(tmp_path):
    if not PROC_IO.exists():
        pytest.skip("no /proc/self/io here")
    if in_memory_file_system(tmp_path):
        pytest.skip("a data dir in memory sends nothing to storage: no rate to project")


def test_a_running_gateway_projects_its_card_life_and_doctor_warns_on_a_small_card(
        tmp_path, broker, publisher):
    config = write_config(tmp_path / "c.toml", gateway_id="gw-wear", data_dir=tmp_path / "data",
                          port=broker.port, extra=TINY_CARD)
    port = tomllib.loads(config.read_text())["metrics"]["port"]
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-1/telemetry", json.dumps({"temperature": t}))
                              for t in range(50))
        # The second state row (10 s after the first) carries the first rate.
        wear = wait_for(lambda: (w := status_json(config)["card_wear"])["card_years"] is not
                        None and w, timeout_s=40, interval_s=1, what="a projected card life")
        assert wear["written_bytes"] > 0 and wear["bytes_per_day"] > 0
        assert wear["measured_s"] >= 10 and wear["warming_up"] is True
        assert (wear["card_bytes"], wear["card_size_from"], wear["endurance_writes"]) == \
            (1_000_000, "storage.card_gb", 10)
        assert wear["card_years"] == pytest.approx(
            1e6 * 10 / wear["bytes_per_day"] / 365, rel=1e-9)
        assert wear["card_years"] < 2
        out = doctor(config)
        assert out.returncode == 1
        line = card_line(out)
        assert line.startswith("FAIL  card") and "years, under 2" in line, out.stdout
        assert "(over the first" in line  # said to be a warm-up figure
        samples = scrape(port)
        assert samples["sensor_gateway_storage_written_bytes_total"] > 0
        assert samples["sensor_gateway_storage_written_bytes_per_day"] > 0
        assert samples["sensor_gateway_storage_write_window_seconds"] >= 10
        assert 0 < samples["sensor_gateway_card_life_projected_years"] < 2
    finally:
        assert gateway.terminate() == 0
    stopped = status_json(config)["card_wear"]
    assert (stopped["bytes_per_day"], stopped["card_years"]) == (None, None)
    assert "the daemon is not running" in stopped["note"]
    line = card_line(doctor(config))
    assert line.startswith("FAIL  card") and "not running" in line


def test_a_big_card_passes_doctor(tmp_path, broker):
    config = write_config(tmp_path / "c.toml", gateway_id="gw-wear2",
                          data_dir=tmp_path / "data", port=broker.port,
                          extra="[storage]\ncard_gb = 100000.0\ncard_endurance_writes = 1000000\n")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        wait_for(lambda: status_json(config)["card_wear"]["card_years"] is not None,
                 timeout_s=40, interval_s=1, what="a projected card life")
        line = card_line(doctor(config))
        assert line.startswith("PASS  card") and "lasts" in line and "years" in line, line
    finally:
        gateway.terminate()
