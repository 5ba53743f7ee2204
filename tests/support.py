"""Real parts for end-to-end tests: the gateway as a subprocess, a paho publisher, the store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.devtools.local_broker import free_port
from gateway.inference.result_writer import ResultWriter
from gateway.inference.worker import Analyser
from gateway.store.segments import RAW_COLUMNS, raw_dir_of, window_raw

REPO = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout_s: float = 10.0, interval_s: float = 0.05, what: str = ""):
    """Poll until predicate() is truthy; return its value or fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")
        time.sleep(interval_s)


class CommittedAnalyser:
    """The daemon's analysis path for one test: the real Analyser handing its outcomes to
    the real result writer. `handle` returns once the writer has committed what it was
    handed (in the daemon a worker goes on at once), so a test reads the rows next.
    Closed after each test by the `_close_analysers` fixture."""

    open: list[CommittedAnalyser] = []

    def __init__(self, store_path, make_model, rules, retry, time_limit_s: float = 5.0,
                 **writer_options):
        self.writer = ResultWriter(store_path, retry, **writer_options)
        self.analyser = Analyser(store_path, make_model, rules, retry, time_limit_s,
                                 self.writer)
        self.writer.start()
        CommittedAnalyser.open.append(self)

    def handle(self, window_id: int) -> float | None:
        retry_in = self.analyser.handle(window_id)
        assert self.writer.flush()
        return retry_in

    def close(self) -> None:
        self.writer.stop()
        self.analyser.close()


def write_config(path: Path, *, gateway_id: str, data_dir: Path, port: int,
                 extra: str = "") -> Path:
    path.write_text(
        f'[gateway]\nid = "{gateway_id}"\ndata_dir = "{data_dir}"\nlog_level = "debug"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "sensors"\n\n'
        # a free port of its own: several daemons may run at once in one test
        f'[metrics]\nport = {free_port()}\n\n' + extra
    )
    return path


class GatewayProcess:
    """`gateway run -c FILE` as a real child process, its output in a log file."""

    def __init__(self, config_path: Path, log_path: Path):
        self.config_path, self.log_path = config_path, log_path
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def start(self, wait_subscribed: bool = True) -> GatewayProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if wait_subscribed:
            self.wait_log('msg=subscribed', timeout_s=15)
        return self

    def log_text(self, since_start: bool = True) -> str:
        text = self.log_path.read_bytes().decode(errors="replace")
        return text[self._log_offset:] if since_start else text

    def wait_log(self, needle: str, timeout_s: float = 10.0) -> None:
        def seen():
            if self.process.poll() is not None and needle not in self.log_text():
                raise AssertionError(f"gateway exited ({self.process.returncode}) before "
                                     f"logging {needle!r}:\n{self.log_text()[-3000:]}")
            return needle in self.log_text()

        wait_for(seen, timeout_s, what=f"log line {needle!r}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = 15.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_stopped(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)


class Publisher:
    """A sensor box: a real paho client publishing QoS 1 over MQTT v5 (or 3.1.1)."""

    def __init__(self, port: int, client_id: str = "", protocol=mqtt.MQTTv5):
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol)
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.protocol = protocol
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, ts_ms: int | None = None,
                qos: int = 1) -> mqtt.MQTTMessageInfo:
        props = None
        if ts_ms is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = ("ts", str(ts_ms))
        return self.client.publish(topic, payload, qos=qos, properties=props)

    def publish_all(self, messages, timeout_s: float = 60.0) -> None:
        """Publish (topic, payload) pairs and wait until the broker acknowledged each."""
        infos = [self.publish(topic, payload) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """Collects messages on a topic filter (for retained status and, later, results)."""

    def __init__(self, port: int, topic: str):
        self.messages: list[tuple[str, bytes, bool]] = []
        self._counted: dict[str, tuple[int, int]] = {}  # suffix: (messages seen, count)
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def json_payloads(self, topic: str) -> list[dict]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t == topic]

    def count_ending(self, suffix: str) -> int:
        """Messages so far whose topic ends with suffix, counted on from the last call (a
        benchmark asks after every publish)."""
        with self._lock:
            seen, count = self._counted.get(suffix, (0, 0))
            count += sum(1 for t, _, _ in self.messages[seen:] if t.endswith(suffix))
            self._counted[suffix] = (len(self.messages), count)
            return count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def store_rows(data_dir: Path, sql: str, params=()) -> list[tuple]:
    """Query the gateway's store read-only, as `gateway status` does."""
    path = data_dir / "gateway.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_raw(data_dir: Path, where: str = "1=1", params=()) -> list[tuple[int, bytes | None]]:
    """(window id, raw bytes) of the stored windows matching where, by id, read as the
    analysis reads them (store/segments.py: checked against their CRC-32)."""
    path = data_dir / "gateway.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"SELECT id, {RAW_COLUMNS} FROM windows WHERE {where} ORDER BY id",
                            params).fetchall()
        return [(row[0], window_raw(conn, raw_dir_of(path), row[0], row[1:])) for row in rows]
    finally:
        conn.close()


def in_memory_file_system(path: Path) -> bool:
    """Is path on tmpfs or ramfs (per /proc/self/mounts), where writes never reach storage?"""
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind in ("tmpfs", "ramfs")


def status_json(config_path: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "gateway", "status", "-c", str(config_path),
                          "--json"], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@contextlib.contextmanager
def small_file_system(mount: Path, size_mb: int):
    """A real file system of size_mb (tmpfs) mounted at `mount` for a test; skips the test
    where it cannot be mounted (not root)."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small file system")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_file_system(path: Path) -> int:
    """Write to path until its file system is full; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for block in (b"\0" * 65536, b"\0" * 512):
            with contextlib.suppress(OSError):
                while True:
                    written += f.write(block)
    return written
