"""A long telemetry linger against a broker that passes fewer unacknowledged messages than the
linger would gather: the batch ends when it holds all the broker may have in flight, so the
stream never waits out the linger per handful of messages, and every message is acknowledged
and stored once. (The linger's end itself is pinned by tests/unit/test_intake_linger.py; the
installed Mosquitto 2.0.11 honours the receive maximum for its first window only, then sends
the rest at once, docs/performance.md "Wear", round 7.)"""

from __future__ import annotations

import json
import re

from tests.support import GatewayProcess, status_json, store_rows, wait_for, write_config

IN_FLIGHT = 20  # the daemon's receive maximum: the most the broker may have unacknowledged
LINGER_MS = 5_000  # the longest allowed: 400 messages would take 20 lingers (100 s) waited out
MESSAGES = 400


def test_a_broker_window_smaller_than_the_linger_still_gets_every_message_acked_and_stored(
        tmp_path, broker, publisher):
    config = write_config(tmp_path / "config.toml", gateway_id="gw-inflight",
                          data_dir=tmp_path / "data", port=broker.port,
                          extra=f"[intake]\ntelemetry_delay_ms = {LINGER_MS}\n")
    config.write_text(config.read_text().replace(
        'topic_prefix = "sensors"\n', f'topic_prefix = "sensors"\nreceive_maximum = {IN_FLIGHT}\n'))
    gateway = GatewayProcess(config, tmp_path / "gateway.log").start()
    try:
        infos = [publisher.publish(f"sensors/box-{n % 3}/telemetry",
                                   json.dumps({"seq": n // 3, "temperature": -18.0 + n}))
                 for n in range(MESSAGES)]
        for info in infos:
            info.wait_for_publish(30)
        wait_for(lambda: store_rows(tmp_path / "data", "SELECT count(*) FROM telemetry")[0][0]
                 >= MESSAGES, timeout_s=45, what=f"{MESSAGES} messages stored")
        # Each stored once, each acknowledged by a commit.
        data = [json.loads(d) for d, in store_rows(tmp_path / "data",
                                                   "SELECT data FROM telemetry")]
        assert sorted(d["temperature"] for d in data) == [-18.0 + n for n in range(MESSAGES)]
        assert status_json(config)["received"]["telemetry"] == MESSAGES
        batches = [int(n) for n in re.findall(r"msg=\"?batch committed\"? records=(\d+)",
                                              gateway.log_text())]
        assert sum(batches) == MESSAGES
        assert batches[0] == IN_FLIGHT  # the broker's first window: the linger ended there
    finally:
        gateway.ensure_stopped()
