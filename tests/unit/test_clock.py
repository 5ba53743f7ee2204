"""The gateway's own clock (issue 13.1): before the build date, before the last stored receipt
or jumping is said in status (text and JSON), and in the metrics snapshot."""

from __future__ import annotations

import json
import sqlite3

from gateway.config import load_config
from gateway.ops.status import collect_status, fill_time_and_sequences, time_and_sequence_lines
from gateway.records import Telemetry, content_digest
from gateway.service.clock import BUILD_MS, JumpWatch, clock_problem
from gateway.store.database import IntakeStore
from tests.support import write_config

NOW = BUILD_MS + 30 * 86_400_000


def test_a_clock_before_the_build_or_behind_the_store_is_wrong():
    assert clock_problem(NOW, None) == ""
    assert clock_problem(NOW, NOW - 3_600_000) == ""
    assert "before this software was built" in clock_problem(BUILD_MS - 1, None)
    assert "went backwards" in clock_problem(NOW, NOW + 3_600_000)


def test_a_jump_of_the_wall_clock_is_noticed():
    wall, mono = [1000.0], [50.0]
    watch = JumpWatch(wall=lambda: wall[0], mono=lambda: mono[0])
    wall[0] += 1.0
    mono[0] += 1.0
    assert watch.check() == 0.0
    wall[0] += 3600.0  # NTP set the clock an hour forward
    mono[0] += 1.0
    assert watch.check() == 3599.0  # the wall moved 3601 s while 1 s passed
    assert watch.as_dict()["jumps"] == 1


def test_status_says_the_clock_went_backwards(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    data = json.dumps({"t": 1})
    topic = "sensors/box-1/telemetry"
    later = NOW + 86_400_000  # stored while the clock was a day ahead of "now"
    store.write_batch([Telemetry("box-1", topic, later, later,
                                 content_digest(topic, data.encode()), data, None, "ahead")])
    status: dict = {}
    fill_time_and_sequences(store.db.conn, status, now_ms=NOW)
    assert "went backwards" in status["clock"]["problem"]
    assert status["ts_flagged"] == {"telemetry:ahead": 1}
    lines = time_and_sequence_lines(status, NOW)
    assert any(line.startswith("CLOCK WRONG") for line in lines)
    assert any("doubtful" in line for line in lines)
    store.close()


def test_status_reads_a_store_the_daemon_has_not_migrated_yet(tmp_path):
    # After an upgrade, `gateway status` may run before the new daemon migrated the store.
    config = load_config(write_config(tmp_path / "c.toml", gateway_id="gw-old",
                                      data_dir=tmp_path / "data", port=1883))
    IntakeStore(config.store_path).close()
    conn = sqlite3.connect(config.store_path)
    conn.execute("DROP TABLE seq_state")
    conn.close()
    status = collect_status(config)
    assert status["sequence_gaps"] == [] and status["clock"]["problem"] == ""
