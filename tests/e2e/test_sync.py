"""Upstream sync through the real daemon: real Mosquitto, the real `gateway run`, the reference
receiver on 127.0.0.1 misbehaving on cue, SIGKILL mid-upload."""

from __future__ import annotations

import json

import pytest

from gateway.devtools.receiver.server import serve
from gateway.store.database import open_database
from gateway.store.outbox import pending_records
from tests.support import GatewayProcess, status_json, store_rows, wait_for, write_config

TOKEN = "e2e-token-1234"


def telemetry(i: int, device: str) -> str:
    return json.dumps({"device_id": device, "timestamp": 1732350000 + i,
                       "temperature": -18.0 - i % 5, "power_consumption": 45.2, "seq": i})


@pytest.fixture
def receiver():
    server = serve(token=TOKEN)
    yield server
    server.stop()


def config_for(tmp_path, broker, receiver, name: str):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    return write_config(tmp_path / f"{name}.toml", gateway_id=name, data_dir=tmp_path / "data",
                        port=broker.port,
                        extra=f'[sync]\nurl = "{receiver.url}"\ntoken_file = "{token_file}"\n'
                              f'interval_s = 1\nbatch_records = 50\nbackoff_max_s = 2\n')


def waiting(data_dir) -> int:
    """Records waiting for the cloud (the outbox's, and telemetry rows above the uploader's
    watermark: telemetry is uploaded from its own table); -1 before the store exists."""
    if not (data_dir / "gateway.db").exists():
        return -1
    db = open_database(data_dir / "gateway.db", read_only=True)
    try:
        return pending_records(db.conn)
    finally:
        db.close()


def assert_exactly_once(receiver, expected: int) -> None:
    ids = [i for logged in receiver.requests if logged.status // 100 == 2 and not logged.cut
           for i in logged.ids if not logged.replayed]
    assert len(receiver.records) == expected
    assert len(ids) == len(set(ids)), "a batch the server accepted was sent again"


def test_telemetry_reaches_the_cloud_once_through_outage_and_503(tmp_path, broker, receiver,
                                                                 publisher):
    config = config_for(tmp_path, broker, receiver, "gw-sync")
    receiver.go_down()
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        publisher.publish_all(("sensors/box-1/telemetry", telemetry(i, "box-1"))
                              for i in range(300))
        wait_for(lambda: status_json(config)["pending_sync"] == 300, what="300 records kept")
        sync = wait_for(lambda: (s := status_json(config)["sync"])["consecutive_failures"]
                        and s, what="the failed uploads to show in status")
        assert "Connection refused" in sync["last_error"]
        receiver.faults.set(status=503, retry_after="1", status_times=2)
        receiver.come_up()
        wait_for(lambda: status_json(config)["pending_sync"] == 0, timeout_s=30,
                 what="the backlog uploaded")
        assert status_json(config)["synced"] == 300
        assert_exactly_once(receiver, 300)
        assert [r.status for r in receiver.requests][:2] == [503, 503]
    finally:
        gateway.terminate()


def test_sigkill_mid_upload_loses_and_duplicates_nothing(tmp_path, broker, receiver,
                                                        publisher):
    config = config_for(tmp_path, broker, receiver, "gw-kill-sync")
    data_dir = tmp_path / "data"
    receiver.faults.set(delay_s=0.3, cut_after_store=1)
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    publisher.publish_all(("sensors/box-2/telemetry", telemetry(i, "box-2"))
                          for i in range(400))
    wait_for(lambda: 0 < len(receiver.records) < 400, timeout_s=30, what="upload under way")
    gateway.kill()
    kept = waiting(data_dir)
    assert kept > 0, "the kill came too late to interrupt the upload"
    receiver.faults.clear()
    gateway.start()
    try:
        wait_for(lambda: waiting(data_dir) == 0, timeout_s=30, what="the rest uploaded")
        assert_exactly_once(receiver, 400)
        assert status_json(config)["pending_sync"] == 0
    finally:
        gateway.terminate()


def test_a_poisoned_record_is_dead_lettered_and_the_rest_delivered(tmp_path, broker,
                                                                  receiver, publisher):
    config = config_for(tmp_path, broker, receiver, "gw-poison-sync")
    receiver.faults.set(poison="POISON")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        messages = [("sensors/box-3/telemetry", telemetry(i, "box-3")) for i in range(200)]
        messages[77] = ("sensors/box-3/telemetry",
                        json.dumps({"device_id": "box-3", "note": "POISON", "seq": 77}))
        publisher.publish_all(messages)
        wait_for(lambda: status_json(config)["dead_letters"] == 1, timeout_s=30,
                 what="one dead letter")
        wait_for(lambda: status_json(config)["pending_sync"] == 0, what="the rest sent")
        assert len(receiver.records) == 199
        (stage, error), = store_rows(tmp_path / "data",
                                     "SELECT stage, error FROM dead_letters")
        assert stage == "sync" and "422" in error
    finally:
        gateway.terminate()
