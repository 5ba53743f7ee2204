"""`gateway demo`: the whole system on one machine, no config, to watch it work.

Starts, in order: a private Mosquitto, the reference receiver as the cloud, the daemon as a
subprocess on a temporary config, a subscriber to the gateway's MQTT output (what a local
display would see), and simulated sensor boxes, one of which develops a fault once its
baseline is learned. Shows what happens live, prints a summary, and stops what it started in
reverse order, also after an error or Ctrl-C. Everything lives in one temporary directory.

There is no embedded broker: the gateway needs MQTT v5 (persistent sessions, user
properties), and no maintained pure-Python broker offers it with QoS 1 (amqtt speaks 3.1.1
only, mqttools QoS 0 only), so without Mosquitto the demo says how to install it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from gateway import receiver
from gateway.config import Config, ConfigError, load_config
from gateway.local_broker import BrokerError, LocalMosquitto, free_port
from gateway.logs import KeyValueFormatter
from gateway.simulate import FaultPlan, SimConfig, Simulator
from gateway.status import collect_status
from gateway.store import StoreError

GATEWAY_ID = "gw-demo"
BASELINE_WINDOWS = 12  # audio every second: a box's baseline is learned in ~12 s
FAULT_KIND = "leak"
FAULT_AFTER_WINDOWS = 14  # two windows judged normal after the baseline, then the fault
FAULT_RAMP_S = 4.0
START_TIMEOUT_S = 60.0
REFRESH_S = 0.5
PLAIN_EVERY_S = 5.0
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
            elif what[-1] == "result" and self.first_result_s is None:
                self.first_result_s = self.clock()
            elif what[-1] == "alert":
                self.alerts.append({**doc, "at_s": self.clock()})

    def seen_alerts(self) -> list[dict]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Snapshot:
    elapsed_s: float
    status: dict
    alerts: list[dict]
    at_cloud: int


class Demo:
    """The parts, started in order by start() and stopped in reverse by stop()."""

    def __init__(self, boxes: int, workdir: Path):
        self.boxes, self.workdir = boxes, workdir
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
        self._last_status: dict = {}

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
            mqtt_port=self.broker.port, baseline=BASELINE_WINDOWS, sync_url=self.cloud.url,
            token_file=json.dumps(str(token_file)), metrics_port=free_port()))
        return path

    def _start_daemon(self) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            # Its own session: Ctrl-C reaches only the demo, which stops the boxes first.
            return subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config.path)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def _wait_online(self, stop: threading.Event) -> bool:
        """True once the gateway announced itself online (it subscribes before that)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.display.online.wait(0.1):
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
            self._last_status = collect_status(self.config)
        at_cloud = self.cloud.stats()["records"]
        if at_cloud:
            self.mark("first upload")
        alerts = self.display.seen_alerts()
        if self.display.first_result_s is not None:
            self.marks.setdefault("first result", self.display.first_result_s)
        if alerts:
            self.marks.setdefault("first alert", alerts[0]["at_s"])
        return Snapshot(self.since(), self._last_status, alerts, at_cloud)

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


# --- what is shown ----------------------------------------------------------------------------


def _stream_cell(stream: dict | None, needed: int) -> str:
    if not stream:
        return "[dim]-[/]"
    if stream["state"] == "learning":
        return f"[cyan]learning[/] {stream['baseline_windows']}/{needed}"
    verdict = "[bold red]ANOMALY[/]" if stream["state"] == "anomaly" else "[green]normal[/]"
    score, threshold = stream["last_score"] or 0.0, stream["threshold"] or 0.0
    return f"{verdict} {score:.3g} [dim](threshold {threshold:.3g})[/]"


def uplink_state(status: dict) -> str:
    sync = status.get("sync")
    if not sync:
        return "starting"
    if sync["paused"] == "auth":
        return "PAUSED: the cloud refused the token"
    if sync["consecutive_failures"]:
        return f"retrying ({sync['consecutive_failures']} failed): {sync['last_error']}"
    return "ok" if sync["last_success_ms"] else "waiting for the first upload"


def alert_line(alert: dict) -> str:
    return (f"{alert['device_id']} {alert['state']} at {alert['at_s']:.1f} s: "
            f"{alert.get('reason', '')}")


def _devices(snap: Snapshot, demo: Demo) -> Table:
    table = Table("box", "audio (model score)", "vibration (mm/s, ISO 10816)")
    needed = snap.status.get("baseline_needed", BASELINE_WINDOWS)
    for device in snap.status.get("devices", []):
        name, streams = device["device_id"], device["streams"]
        if name == demo.fault.device_id:
            name += f" [dim](develops a {demo.fault.kind})[/]"
        table.add_row(name, _stream_cell(streams.get("audio"), needed),
                      _stream_cell(streams.get("vibration"), needed))
    return table


def _pipeline(snap: Snapshot) -> Table:
    status, alerts = snap.status, snap.alerts
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    received = ", ".join(f"{s} {n}" for s, n in status.get("received", {}).items())
    table.add_row("received", received)
    table.add_row("analysed", f"{status.get('inferred', 0)} "
                              f"(queue {status.get('pending_inference', 0)})")
    table.add_row("alerts", f"{len(alerts)}" + (f"; latest: [bold red]{alert_line(alerts[-1])}"
                                                if alerts else ""))
    table.add_row("upload backlog", str(status.get("pending_sync", 0)))
    table.add_row("at the cloud", f"{snap.at_cloud} records")
    table.add_row("uplink", uplink_state(status))
    table.add_row("dead letters", str(status.get("dead_letters", 0)))
    return table


def render(snap: Snapshot, demo: Demo, duration: float | None) -> Group:
    ends = f"ends after {duration:.0f} s of operation" if duration else "Ctrl-C ends it"
    header = (f"[bold]sensor-gateway demo[/] {snap.elapsed_s:.0f} s: {demo.boxes} simulated "
              f"boxes; {demo.fault.device_id} develops a {demo.fault.kind} once its baseline "
              f"is learned; {ends}")
    return Group(header, _devices(snap, demo), _pipeline(snap))


def plain_line(snap: Snapshot) -> str:
    status = snap.status
    return (f"[{snap.elapsed_s:4.0f} s] analysed {status.get('inferred', 0)} "
            f"(queue {status.get('pending_inference', 0)}), alerts {len(snap.alerts)}, "
            f"at the cloud {snap.at_cloud} (backlog {status.get('pending_sync', 0)}), "
            f"uplink {uplink_state(status)}")


def show(demo: Demo, duration: float | None, stop: threading.Event) -> None:
    """A live view on a terminal; otherwise a progress line every few seconds, and alerts."""
    deadline = None if duration is None else time.monotonic() + duration

    def going_on() -> bool:
        ended = stop.wait(REFRESH_S) or (deadline is not None and time.monotonic() >= deadline)
        demo.check_daemon()
        return not ended

    if stop.is_set():
        return
    if sys.stdout.isatty():
        with Live(render(demo.snapshot(), demo, duration), auto_refresh=False,
                  console=Console()) as live:
            while going_on():
                live.update(render(demo.snapshot(), demo, duration), refresh=True)
        return
    print(f"demo: {demo.boxes} simulated boxes; {demo.fault.device_id} develops a "
          f"{demo.fault.kind} once its baseline is learned", flush=True)
    told, next_line = 0, 0.0
    while going_on():
        snap = demo.snapshot()
        for alert in snap.alerts[told:]:
            print(f"[{alert['at_s']:4.0f} s] ALERT {alert_line(alert)}", flush=True)
        told = len(snap.alerts)
        if time.monotonic() >= next_line:
            print(plain_line(snap), flush=True)
            next_line = time.monotonic() + PLAIN_EVERY_S


def summary(demo: Demo) -> str:
    """What happened, read after everything stopped, so the counts are final."""
    status = collect_status(demo.config)
    alerts = demo.display.seen_alerts()
    kinds = sorted(Counter(r["kind"] for r in demo.cloud.records.values() if r).items())
    lines = [f"demo summary ({demo.boxes} boxes; {demo.fault.device_id} was scripted to "
             f"develop a {demo.fault.kind}):",
             f"  windows analysed:     {status['inferred']} "
             f"({status['pending_inference']} not analysed when stopped)",
             f"  alerts raised:        {len(alerts)}"]
    lines += [f"    {alert_line(alert)}" + ("" if alert["device_id"] == demo.fault.device_id
                                           else " (no fault scripted there: a false alarm)")
              for alert in alerts]
    lines += [f"  records at the cloud: {sum(n for _, n in kinds)} "
              f"({', '.join(f'{kind} {n}' for kind, n in kinds)})",
              f"  not yet uploaded:     {status['pending_sync']} (kept in the store)",
              f"  dead letters:         {status['dead_letters']}",
              "  timeline (s):         " + ", ".join(
                  f"{event} {t:.1f}" for event, t in sorted(demo.marks.items(),
                                                           key=lambda item: item[1]))]
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------


@contextmanager
def _signals_set(stop: threading.Event):
    """Ctrl-C and SIGTERM only ask the demo to end; it then stops everything in order."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _logs_into(path: Path):
    """The simulator's and receiver's log lines go to a file: the terminal shows the view."""
    logger, handler = logging.getLogger("gateway"), logging.FileHandler(path)
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate = True


def _play(demo: Demo, duration: float | None, stop: threading.Event) -> str | None:
    """Run the demo; the failure's one line, or None. Everything is stopped on the way out."""
    try:
        demo.start(stop)
        show(demo, duration, stop)
        return None
    except DemoError as e:
        return str(e)
    finally:
        demo.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, metavar="S",
                        help="end after S seconds of simulated operation (default: Ctrl-C)")
    parser.add_argument("--boxes", type=int, choices=range(1, 21), default=4, metavar="N",
                        help="simulated sensor boxes, 1-20 (default 4)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (config, logs, data) and say where")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    demo = Demo(args.boxes, workdir)
    try:
        with _signals_set(stop), _logs_into(workdir / "demo.log"):
            failure = _play(demo, args.duration, stop)
            report = None if failure else summary(demo)
    finally:
        if args.keep:
            print(f"demo: kept {workdir}; try: gateway status -c {workdir / 'config.toml'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failure:
        print(f"demo: {failure}", file=sys.stderr)
        return 1
    print(report, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway demo", description="the whole system on this "
                                     "machine, no config: watch it work")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
