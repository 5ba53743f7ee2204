"""The parts of `gateway demo`, started in order and stopped in reverse.

In order: a private Mosquitto, the reference receiver as the cloud, the daemon as a
subprocess on a temporary config, a subscriber to the gateway's MQTT output (what a local
display would see), and simulated sensor boxes, one of which develops a fault once its
baseline is learned. All are stopped in reverse order, also after an error or Ctrl-C.
Everything lives in one temporary directory. What is shown of them is in demo.py.

There is no embedded broker: the gateway needs MQTT v5 (persistent sessions, user
properties), and no maintained pure-Python broker offers it with QoS 1 (amqtt speaks 3.1.1
only, mqttools QoS 0 only), so without Mosquitto the demo says how to install it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import Config, ConfigError, load_config
from gateway.devtools.local_broker import BrokerError, LocalMosquitto, free_port
from gateway.devtools.receiver import server as receiver
from gateway.devtools.simulator.boxes import FaultPlan, SimConfig
from gateway.devtools.simulator.fleet import Simulator
from gateway.ops.status import collect_status
from gateway.store.database import StoreError

T = TypeVar("T")

GATEWAY_ID = "gw-demo"
BASELINE_WINDOWS = 12  # audio every second: a box's baseline is learned in ~12 s
FAULT_KIND = "leak"
FAULT_AFTER_WINDOWS = 14  # two windows judged normal after the baseline, then the fault
FAULT_RAMP_S = 4.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

CONFIG = """\
[gateway]
id = "{gateway_id}"
data_dir = {data_dir}
stop_grace_s = 5
[mqtt]
port = {mqtt_port}
[inference]
baseline_windows = {baseline}
# the demo learns in minutes: its windows are taken as they come (a site spreads them over a day)
baseline_hours = 0
alert_after = 2
alert_window = 3
[sync]
url = "{sync_url}"
token_file = {token_file}
interval_s = 2
read_timeout_s = 10
[metrics]
port = {metrics_port}
"""


class DemoError(RuntimeError):
    """Something the demo needs did not start; str() is the one line shown."""


class LocalDisplay:
    """A subscriber to the gateway's output: results, alerts and its online status."""

    def __init__(self, port: int, out_prefix: str, clock):
        self.prefix, self.clock = out_prefix, clock
        self.online = threading.Event()
        self.first_result_s: float | None = None
        self.alerts: list[dict] = []
        self.vibration: dict[str, dict] = {}  # device -> details of its latest vibration result
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{out_prefix}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        what = message.topic[len(self.prefix) + 1:].split("/")
        try:
            doc = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        with self._lock:
            if what == ["status"]:
                (self.online.set if doc.get("state") == "online" else self.online.clear)()
            elif what[-1] == "result":
                if self.first_result_s is None:
                    self.first_result_s = self.clock()
                if doc.get("stream") == "vibration" and isinstance(doc.get("details"), dict):
                    self.vibration[str(doc.get("device_id"))] = doc["details"]
            elif what[-1] == "alert":
                self.alerts.append({**doc, "at_s": self.clock()})

    def seen_alerts(self) -> list[dict]:
        with self._lock:
            return list(self.alerts)

    def latest_vibration(self) -> dict[str, dict]:
        with self._lock:
            return dict(self.vibration)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def started(part: T | None) -> T:
    """A part start() made; the demo's own error if it was not made (a bug)."""
    if part is None:
        raise DemoError("a part of the demo is used before the demo started it")
    return part


@dataclass
class Snapshot:
    elapsed_s: float
    status: Mapping[str, Any]  # the Status document; empty until the store was read once
    alerts: list[dict]
    at_cloud: int
    # device -> details of its latest vibration result (iso_zone, rms_velocity_mm_s, ...)
    vibration: dict[str, dict] = field(default_factory=dict)


class Demo:
    """The parts, started in order by start() and stopped in reverse by stop()."""

    def __init__(self, boxes: int, workdir: Path, python: str = sys.executable):
        self.boxes, self.workdir = boxes, workdir
        self.python = python  # the daemon's interpreter (bench/soak.py: the runtime-only one)
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}  # event → seconds since the demo began
        self.fault = FaultPlan(f"box-{(boxes + 1) // 2}", FAULT_KIND,
                               after_windows=FAULT_AFTER_WINDOWS, ramp_s=FAULT_RAMP_S)
        self.broker: LocalMosquitto | None = None
        self.cloud: receiver.ReceiverServer | None = None
        self.config: Config | None = None
        self.daemon: subprocess.Popen | None = None
        self.display: LocalDisplay | None = None
        self.simulator: Simulator | None = None
        self.log_path = workdir / "gateway.log"
        self._last_status: Mapping[str, Any] = {}

    def since(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def mark(self, event: str) -> None:
        self.marks.setdefault(event, self.since())

    def start(self, stop: threading.Event) -> None:
        token = secrets.token_urlsafe(24)
        try:
            self.broker = LocalMosquitto(self.workdir / "broker").start()
            self.cloud = receiver.serve("127.0.0.1", 0, token)
            self.config = load_config(self._write_config(token))
        except BrokerError as e:
            raise DemoError(f"{e} (./scripts/setup installs it)") from None
        except (OSError, ConfigError) as e:
            raise DemoError(f"could not set up the demo: {e}") from None
        self.display = LocalDisplay(self.broker.port, self.config.out_prefix, self.since)
        self.daemon = self._start_daemon()
        if not self._wait_online(stop):
            return
        self.mark("gateway online")
        self.simulator = Simulator(SimConfig(
            port=self.broker.port, boxes=self.boxes, window_every_s=1.0, vibration_every_s=1.0,
            telemetry_every_s=1.0, duty_off_s=0.0, faults=(self.fault,)))
        self.simulator.start()
        self.mark("boxes publishing")

    def _write_config(self, token: str) -> Path:
        token_file = self.workdir / "sync-token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        path = self.workdir / "config.toml"
        # json.dumps quotes a path as a TOML basic string, whatever characters it holds
        path.write_text(CONFIG.format(
            gateway_id=GATEWAY_ID, data_dir=json.dumps(str(self.workdir / "data")),
            mqtt_port=started(self.broker).port, baseline=BASELINE_WINDOWS,
            sync_url=started(self.cloud).url,
            token_file=json.dumps(str(token_file)), metrics_port=free_port()))
        return path

    def _start_daemon(self) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            # Its own session: Ctrl-C reaches only the demo, which stops the boxes first.
            return subprocess.Popen(
                [self.python, "-m", "gateway", "run", "-c", str(started(self.config).path)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def _wait_online(self, stop: threading.Event) -> bool:
        """True once the gateway announced itself online (it subscribes before that)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not started(self.display).online.wait(0.1):
            self.check_daemon()
            if stop.is_set():
                return False
            if time.monotonic() > deadline:
                raise DemoError(f"the gateway did not come online within {START_TIMEOUT_S:.0f} "
                                f"s{log_tail(self.log_path)}")
        return True

    def check_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is not None:
            code = self.daemon.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise DemoError(f"the gateway {how}{log_tail(self.log_path)}")

    def snapshot(self) -> Snapshot:
        # A read that meets the daemon mid-migration shows the previous figures.
        with suppress(sqlite3.Error, StoreError):
            self._last_status = collect_status(started(self.config))
        at_cloud = started(self.cloud).stats()["records"]
        if at_cloud:
            self.mark("first upload")
        display = started(self.display)
        alerts = display.seen_alerts()
        if display.first_result_s is not None:
            self.marks.setdefault("first result", display.first_result_s)
        if alerts:
            self.marks.setdefault("first alert", alerts[0]["at_s"])
        return Snapshot(self.since(), self._last_status, alerts, at_cloud,
                        display.latest_vibration())

    def stop(self) -> None:
        """Everything that was started, in reverse; one failing step never skips the rest."""
        steps = [(self.simulator, lambda s: s.stop()), (self.daemon, stop_process),
                 (self.display, lambda d: d.close()), (self.cloud, lambda c: c.stop()),
                 (self.broker, lambda b: b.stop())]
        for part, stop in steps:
            if part is None:
                continue
            try:
                stop(part)
            except Exception as e:  # keep stopping the others
                print(f"demo: stopping {type(part).__name__} failed: {e!r}", file=sys.stderr)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM is the daemon's graceful stop; kill only if it overruns."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "; its log ends:\n" + "\n".join(f"  {line}" for line in tail) if tail else ""
