"""Hostile input: no message may deafen the gateway (issue 12).

Each test here was written against an attack that worked on an earlier version; the ones
about the daemon go through the real broker and the real `gateway run`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import synth
from gateway.intake.payloads import Inbound, parse_message
from gateway.intake.writer import UNSTORABLE, IntakeWriter
from gateway.records import Rejection, Telemetry, content_digest
from gateway.store.database import IntakeStore
from gateway.store.group_commit import commit_until_done
from gateway.store.reserve import RESERVE_NAME
from gateway.wav import encode_wav
from tests.support import (
    REPO,
    GatewayProcess,
    fill_file_system,
    small_file_system,
    status_json,
    store_rows,
    wait_for,
    write_config,
)

LONE_SURROGATE = b'{"timestamp":"\\ud800"}'  # valid JSON; its text cannot be encoded as UTF-8


def _telemetry(n: int) -> Telemetry:
    topic = "sensors/box-1/telemetry"
    data = json.dumps({"n": n})
    return Telemetry("box-1", topic, n, n, content_digest(topic, data.encode()), data)


def test_a_rejection_of_a_lone_surrogate_can_be_stored(tmp_path):
    record = parse_message(Inbound("sensors/box-1/telemetry", LONE_SURROGATE, 1_700_000_000_000),
                           "sensors", IntakeSection())
    assert isinstance(record, Rejection) and record.reason == "bad_timestamp"
    record.detail.encode("utf-8")  # raised UnicodeEncodeError: the store could not bind it
    store = IntakeStore(tmp_path / "gateway.db")
    assert store.write_batch([record]).stored == {"rejected": 1}
    store.close()


def _writer(tmp_path) -> tuple[IntakeWriter, IntakeStore]:
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=50))
    writer.start()
    return writer, store


def test_a_record_the_store_refuses_costs_that_record_and_not_the_batch(tmp_path):
    writer, store = _writer(tmp_path)
    acked: list[str] = []
    poison = Rejection("sensors/box-1/telemetry", 1, "bad_timestamp", "ts \ud800 is wrong", 22,
                       b"x", content_digest("poison", b""))
    records = [_telemetry(1), poison, _telemetry(2), _telemetry(3)]
    for n, record in enumerate(records):
        writer.submit(record, lambda n=n: acked.append(n))
    wait_for(lambda: len(acked) == 4, timeout_s=10, what="every record acknowledged")
    writer.stop()
    store.close()
    rows = store_rows(tmp_path, "SELECT count(*) FROM telemetry")
    assert rows == [(3,)]
    kept = store_rows(tmp_path, "SELECT topic, reason, detail FROM rejected")
    assert len(kept) == 1 and kept[0][1] == UNSTORABLE
    assert "UnicodeEncodeError" in kept[0][2]
    counters = dict(store_rows(tmp_path, "SELECT name, value FROM counters"))
    assert counters["received_telemetry"] == 3
    assert counters[f"rejected:telemetry:{UNSTORABLE}"] == 1


def test_a_telemetry_record_that_cannot_be_encoded_is_kept_aside_with_its_text(tmp_path):
    writer, store = _writer(tmp_path)
    done = threading.Event()
    topic = "sensors/box-1/telemetry"
    bad = Telemetry("box-1", topic, 5, 5, content_digest(topic, b"bad"), '{"a":"\ud800"}')
    writer.submit(bad, done.set)
    assert done.wait(10)
    writer.stop()
    store.close()
    (sample,) = store_rows(tmp_path, "SELECT sample FROM rejected WHERE reason = ?",
                           (UNSTORABLE,))[0]
    assert sample == b'{"a":"\\ud800"}'


def test_a_failure_of_the_database_is_retried_not_blamed_on_a_record(tmp_path):
    writer, store = _writer(tmp_path)
    # Another connection holds the write lock: the batch fails with "database is locked"
    # (after a shortened busy timeout) until the lock is released; nothing is set aside.
    store.db.conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(tmp_path / "gateway.db")
    blocker.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    writer.submit(_telemetry(1), done.set)
    wait_for(lambda: writer.stats.commit_failures >= 2, timeout_s=10, what="a retried commit")
    assert not done.is_set()
    blocker.rollback()
    blocker.close()
    assert done.wait(10)
    writer.stop()
    store.close()
    assert store_rows(tmp_path, "SELECT count(*) FROM rejected") == [(0,)]
    assert store_rows(tmp_path, "SELECT count(*) FROM telemetry") == [(1,)]


def test_one_poison_message_does_not_deafen_the_daemon(tmp_path, gateway_config, broker,
                                                        publisher):
    process = GatewayProcess(gateway_config, tmp_path / "gateway.log").start()
    try:
        publisher.publish("sensors/box-1/telemetry", LONE_SURROGATE).wait_for_publish(10)
        publisher.publish_all([("sensors/box-1/telemetry", json.dumps({"n": n}))
                               for n in range(50)])
        data_dir = tmp_path / "data"
        wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(50,)],
                 timeout_s=20, what="the 50 valid messages stored")
        reasons = store_rows(data_dir, "SELECT reason FROM rejected")
        assert reasons == [("bad_timestamp",)]
        process.terminate()
        # After a restart nothing is redelivered: the poison was acknowledged once stored.
        process.start()
        publisher.publish("sensors/box-1/telemetry", json.dumps({"n": 50})).wait_for_publish(10)
        wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(51,)],
                 timeout_s=20, what="a message after the restart stored")
        assert "Logging error" not in process.log_text(since_start=False)
    finally:
        process.ensure_stopped()


def test_a_set_aside_that_fails_too_is_retried_as_the_databases_fault():
    attempts = {"aside": 0}
    failures: list[float] = []

    def commit(part):
        if "bad" in part:
            raise ValueError("refused")
        if "aside" in part:
            attempts["aside"] += 1
            if attempts["aside"] < 3:  # the replacement is refused too, twice
                raise ValueError("still refused")
        return list(part)

    committed = commit_until_done(["a", "bad", "b", "c"], commit,
                                  lambda error, delay: failures.append(delay),
                                  lambda item, error: "aside")
    assert [item for part, _ in committed for item in part] == ["a", "aside", "b", "c"]
    assert len(failures) == 2  # backed off, not split or replaced again


# --- a full disk (issue 12.5) ---------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    with small_file_system(tmp_path / "disk", 24) as mount:
        yield mount


def wav_window(n: int) -> bytes:
    audio = synth.audio_window(synth.profile_for("box-d"), rng=np.random.default_rng(n))
    return encode_wav(audio[:, None], 16_000)


def received(config: Path) -> dict:
    return status_json(config)["received"]


def test_a_full_disk_does_not_stall_telemetry(tmp_path, small_disk, broker, publisher):
    # Before: every write failed once the card was full, the clean-up's own deletes too;
    # raw_refused was never set, and no message was stored any more, telemetry included.
    data_dir = small_disk / "data"
    config = write_config(tmp_path / "full.toml", gateway_id="gw-disk", data_dir=data_dir,
                          port=broker.port, extra="[retention]\ndisk_budget_mb = 16\n"
                          "min_free_mb = 2\ninterval_s = 10\n")
    gateway = GatewayProcess(config, tmp_path / "gw.log").start()
    try:
        wavs = (wav_window(n) for n in range(1000))  # each one different: no duplicates
        publisher.publish_all([("sensors/box-d/audio", next(wavs)) for _ in range(20)])
        wait_for(lambda: received(config)["audio"] == 20, timeout_s=30, what="windows stored")
        assert (data_dir / RESERVE_NAME).stat().st_size > 0  # made at start
        fill_file_system(small_disk / "filler")  # something else on the card takes every free byte
        assert shutil.disk_usage(small_disk).free < 65536
        publisher.publish_all([("sensors/box-d/telemetry", json.dumps({"n": n}))
                               for n in range(30)])
        publisher.publish_all([("sensors/box-d/audio", next(wavs)) for _ in range(5)])
        publisher.publish_all([("sensors/box-d/telemetry", json.dumps({"n": n}))
                               for n in range(30, 40)])
        wait_for(lambda: received(config)["telemetry"] == 40, timeout_s=60,
                 what="telemetry stored on a full disk")
        # Every window is accounted for, stored or turned away (a batch that met the full disk
        # is retried after a pause, its windows then turned away): none waits for good.
        status = wait_for(lambda: (s := status_json(config))["rejected_by_reason"].get(
            "disk_full") and s["received"]["audio"] + s["rejected_by_reason"]["disk_full"] >= 25
            and s, timeout_s=60, what="every window stored or turned away as disk_full")
        assert status["rejected_by_reason"]["disk_full"] >= 1
        assert gateway.alive()
        (small_disk / "filler").unlink()  # the card has room again: windows are stored again
        before = received(config)["audio"]
        wait_for(lambda: publisher.publish("sensors/box-d/audio", next(wavs)).wait_for_publish(5)
                 or received(config)["audio"] > before, timeout_s=60,
                 what="windows stored again")
    finally:
        gateway.terminate()


# --- a damaged store, a read-only data dir (issue 12.10) ------------------------------------


def gateway_cli(config: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args, "-c", str(config)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout_s)


def a_stored_gateway(tmp_path: Path, broker, publisher) -> tuple[Path, Path]:
    """A config and its data dir after a daemon stored some telemetry and stopped."""
    data_dir = tmp_path / "data"
    config = write_config(tmp_path / "c.toml", gateway_id="gw-db", data_dir=data_dir,
                          port=broker.port)
    gateway = GatewayProcess(config, tmp_path / "first.log").start()
    publisher.publish_all([("sensors/box-c/telemetry", json.dumps({"n": n, "pad": "p" * 200}))
                           for n in range(1000)])
    wait_for(lambda: store_rows(data_dir, "SELECT count(*) FROM telemetry") == [(1000,)],
             timeout_s=30, what="telemetry stored")
    assert gateway.terminate() == 0
    return config, data_dir / "gateway.db"


def damage(store: Path) -> None:
    """Overwrite the second half of the file (schema and header stay: it still opens and
    migrates), once the WAL is folded into the file so that no copy is left there."""
    conn = sqlite3.connect(store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = store.stat().st_size
    with open(store, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(os.urandom(size - size // 2 // 4096 * 4096))


@pytest.mark.parametrize("harm", ["damaged", "cut to 0 bytes"])
def test_a_damaged_store_is_refused_in_one_line_and_kept(tmp_path, broker, publisher, harm):
    # Before: a damaged store gave a raw traceback at start (and from `gateway status`);
    # one cut to 0 bytes was silently taken for a new, empty store.
    config, store = a_stored_gateway(tmp_path, broker, publisher)
    if harm == "damaged":
        damage(store)
    else:
        store.write_bytes(b"")
        for side in ("-wal", "-shm"):
            Path(f"{store}{side}").unlink(missing_ok=True)
    before = store.read_bytes()
    run = gateway_cli(config, "run")
    lines = [line for line in (run.stdout + run.stderr).splitlines()
             if "level=" not in line and "XNNPACK" not in line]
    assert run.returncode == 1
    assert len(lines) == 1 and lines[0].startswith(f"error: store {store} is ")
    assert "Traceback" not in run.stdout + run.stderr
    assert store.read_bytes() == before  # kept as it was, for a technician
    if harm == "damaged":
        status = gateway_cli(config, "status")
        assert status.returncode == 1 and "Traceback" not in status.stderr
        assert status.stderr.startswith("error: ") and len(status.stderr.splitlines()) == 1


def test_a_read_only_data_dir_is_one_line_not_a_traceback(tmp_path, small_disk):
    data_dir = small_disk / "data"
    data_dir.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    config = write_config(tmp_path / "ro.toml", gateway_id="gw-ro", data_dir=data_dir, port=1)
    run = gateway_cli(config, "run")
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert run.stderr.strip() == (f"error: cannot use data dir {data_dir}: Read-only file "
                                  "system (check gateway.data_dir and that the service user "
                                  "owns it)")


# --- the cloud token (issue 12.4) -------------------------------------------------------------


@pytest.mark.parametrize("content", ["\ufefftok-5e4d3c2b1a\n", "tok-5e4d3c2b1a\nrotated 2026-11\n"])
def test_a_token_file_with_a_bom_or_a_second_line_stops_the_start_unshown(tmp_path, content):
    # Before: the daemon started; the token went into the Authorization header, failed there,
    # and the error's repr carried it into the journal, status and the store.
    token_file = tmp_path / "token"
    token_file.write_text(content, encoding="utf-8")
    config = write_config(tmp_path / "t.toml", gateway_id="gw-tok", data_dir=tmp_path / "data",
                          port=1, extra=f'[sync]\nurl = "http://127.0.0.1:9"\n'
                                        f'token_file = "{token_file}"\n')
    for command in ("run", "doctor", "status"):
        out = gateway_cli(config, command, timeout_s=30)
        shown = out.stdout + out.stderr
        assert "5e4d3c2b1a" not in shown, command
        assert str(token_file) in shown, command
    run = gateway_cli(config, "run", timeout_s=30)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1


def test_retained_garbage_is_counted_once_not_on_every_reconnect(tmp_path, gateway_config,
                                                                 broker, publisher):
    # Issue 12.10: the gateway subscribes again on every (re)connect, and the broker handed it
    # the retained garbage each time, counted again and again.
    publisher.client.publish("sensors/box-r/telemetry", b"not json", qos=1,
                             retain=True).wait_for_publish(10)
    process = GatewayProcess(gateway_config, tmp_path / "gateway.log")
    try:
        for n in range(3):
            process.start()
            publisher.publish("sensors/box-r/telemetry", json.dumps({"n": n})).wait_for_publish(10)
            time.sleep(0.5)
            process.terminate()
        data_dir = tmp_path / "data"
        counters = dict(store_rows(data_dir, "SELECT name, value FROM counters"))
        assert counters.get("rejected", 0) <= 1
        assert "redelivered" not in process.log_text(since_start=False)
    finally:
        process.ensure_stopped()
