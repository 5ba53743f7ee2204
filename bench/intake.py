"""Intake benchmark: durable messages per second through the real daemon.

Method: the gateway's persistent session is created, the daemon stopped, N
messages queued at the broker for it, then the daemon started and the drain
timed (first message received → last one committed, read from the store).
The practical limit is the same drain into a paho subscriber that does
nothing. Each figure is a median over --runs runs; a slow-fsync variant
(LD_PRELOAD shim, default 5 ms per flush, like an SD card) shows the cost of
synchronous=FULL.

    .venv/bin/python -m bench.intake [--runs 3] [--telemetry 50000] [--audio 2000] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.report import report, summarise
from bench.runtime import runtime_python
from gateway.devtools.local_broker import LocalMosquitto
from gateway.wav import encode_wav

REPO = Path(__file__).resolve().parent.parent
# The daemon and the do-nothing subscriber each get one core; the broker the other.
CORES = sorted(os.sched_getaffinity(0))
GATEWAY_CORE = CORES[-1] if len(CORES) > 1 else None
BROKER_CORE = CORES[0] if len(CORES) > 1 else None
COUNTERS = {"telemetry": "received_telemetry", "windows": "received_audio"}
GOALS = {"telemetry_per_s": (">=", 10_000), "ratio_to_broker": (">=", 0.5),
         "audio_per_s": (">=", 500), "peak_rss_mb_telemetry": ("<=", 80),
         "peak_rss_mb_audio": ("<=", 80)}


def telemetry_messages(n: int):
    for seq in range(n):
        payload = json.dumps({"device_id": f"box-{seq % 30}", "timestamp": 1732350000.0 + seq,
                              "temperature": -18.2, "vibration": {"x": 0.2, "y": 0.1, "z": 0.3},
                              "power_consumption": 45.2, "audio_level": 150,
                              "sensor_quality": 0.95, "seq": seq})
        yield f"sensors/box-{seq % 30}/telemetry", payload.encode()


def audio_messages(n: int):
    rng = np.random.default_rng(7)
    base = encode_wav(rng.normal(0, 0.1, 16_000).clip(-1, 1), 16_000)
    for seq in range(n):
        # a distinct payload per window, as real captures are
        yield f"sensors/box-{seq % 30}/audio", base[:-4] + seq.to_bytes(4, "little")


def preload(port: int, messages) -> None:
    """Queue messages at the broker (QoS 1) as fast as one paho publisher can."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


class NullSubscriber:
    """The practical limit: a persistent-session QoS 1 subscriber that only counts."""

    def __init__(self, port: int, expected: int):
        self.port, self.expected, self.count = port, expected, 0
        self.first = self.last = 0.0
        self.done = threading.Event()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-null",
                             protocol=mqtt.MQTTv5)
        client.on_message = self._on_message
        return client

    def _on_message(self, client, userdata, message) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
        if self.count >= self.expected:
            self.last = time.perf_counter()
            self.done.set()

    def create_session(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 1000
        self.props = props
        client = self._client()
        client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        client.subscribe("sensors/+/+", qos=1)
        client.loop(1.0)
        client.disconnect()

    def drain(self) -> float:
        client = self._client()
        client.connect("127.0.0.1", self.port, clean_start=False, properties=self.props)
        client.loop_start()
        self.done.wait(600)
        client.disconnect()
        client.loop_stop()
        return self.expected / (self.last - self.first)


def write_gateway_config(workdir: Path, port: int) -> Path:
    config = workdir / "config.toml"
    config.write_text(f'[gateway]\nid = "gw-bench"\ndata_dir = "{workdir / "data"}"\n'
                      f'log_level = "warning"\n[mqtt]\nport = {port}\n')
    return config


def pinned(core: int | None):
    """preexec_fn that keeps a child on one core, so 'one core' figures mean one core."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def start_gateway(config: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([runtime_python(), "-m", "gateway", "run", "-c", str(config)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=pinned(GATEWAY_CORE))


def wait_subscribed(db: Path, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """The session exists once the daemon has run; wait until its store and lock exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (db.parent / "gateway.lock").exists() and db.exists():
            time.sleep(1.0)  # let it connect and subscribe
            return
        if proc.poll() is not None:
            raise RuntimeError("gateway exited at start")
        time.sleep(0.05)
    raise RuntimeError("gateway did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drain_gateway(port: int, workdir: Path, messages: list, table: str, env: dict):
    """Rate (messages/s) at which the daemon commits a preloaded backlog, and its peak RSS."""
    config = write_gateway_config(workdir, port)
    db = workdir / "data" / "gateway.db"
    proc = start_gateway(config, env)
    wait_subscribed(db, proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    preload(port, messages)
    proc = start_gateway(config, env)
    expected = len(messages)
    conn = None
    try:
        while True:
            if conn is None and db.exists():
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            if conn is not None:
                # The counter, not count(*): a count scans the growing table, and this process
                # shares the daemon's core (the null subscriber's pin) — it would steal from it.
                row = conn.execute("SELECT value FROM counters WHERE name = ?",
                                   (COUNTERS[table],)).fetchone()
                if row and row[0] >= expected:
                    done_ms = time.time() * 1000
                    break
            if proc.poll() is not None:
                raise RuntimeError("gateway died during the drain")
            time.sleep(0.01)
        first_ms = conn.execute(f"SELECT min(received_at_ms) FROM {table}").fetchone()[0]
        rss = peak_rss_mb(proc.pid)
    finally:
        if conn:
            conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return expected / ((done_ms - first_ms) / 1000), rss


def build_shim(workdir: Path) -> Path:
    shim = workdir / "slow_fsync.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(shim),
                    str(REPO / "bench" / "slow_fsync.c"), "-ldl"], check=True)
    return shim


def one_run(kind: str, count: int, slow_fsync_ms: float, shim: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ}
        if slow_fsync_ms and shim:
            env.update(LD_PRELOAD=str(shim), SLOW_FSYNC_MS=str(slow_fsync_ms))
        with LocalMosquitto(workdir / "broker", preexec_fn=pinned(BROKER_CORE)) as broker:
            if kind == "null":
                null = NullSubscriber(broker.port, count)
                null.create_session()
                preload(broker.port, telemetry_messages(count))
                return {"rate": null.drain()}
            messages = list(telemetry_messages(count) if kind == "telemetry"
                            else audio_messages(count))
            table = "telemetry" if kind == "telemetry" else "windows"
            rate, rss = drain_gateway(broker.port, workdir, messages, table, env)
            return {"rate": rate, "rss_mb": rss}


def median_of(runs: int, kind: str, count: int, slow_ms: float = 0, shim=None) -> dict:
    results = [one_run(kind, count, slow_ms, shim) for _ in range(runs)]
    return summarise(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--telemetry", type=int, default=50_000)
    parser.add_argument("--audio", type=int, default=2_000)
    parser.add_argument("--slow-fsync-ms", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if GATEWAY_CORE is not None:
        os.sched_setaffinity(0, {GATEWAY_CORE})  # the null subscriber runs in this process
    with tempfile.TemporaryDirectory() as tmp:
        shim = build_shim(Path(tmp))
        null = median_of(args.runs, "null", args.telemetry)
        telemetry = median_of(args.runs, "telemetry", args.telemetry)
        slow = median_of(args.runs, "telemetry", args.telemetry, args.slow_fsync_ms, shim)
        audio = median_of(args.runs, "audio", args.audio)
        audio_slow = median_of(args.runs, "audio", args.audio, args.slow_fsync_ms, shim)
    figures = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}, "
                   f"daemon pinned to core {GATEWAY_CORE}",
        "broker_null_subscriber_per_s": round(null["rate"]),
        "telemetry_per_s": round(telemetry["rate"]),
        "ratio_to_broker": round(telemetry["rate"] / null["rate"], 2),
        f"telemetry_per_s_fsync_{args.slow_fsync_ms:g}ms": round(slow["rate"]),
        "audio_per_s": round(audio["rate"]),
        f"audio_per_s_fsync_{args.slow_fsync_ms:g}ms": round(audio_slow["rate"]),
        "peak_rss_mb_telemetry": round(max(telemetry["rss_mb"], slow["rss_mb"]), 1),
        "peak_rss_mb_audio": round(max(audio["rss_mb"], audio_slow["rss_mb"]), 1),
        "runs": {"null": null["rates"], "telemetry": telemetry["rates"],
                 "telemetry_slow": slow["rates"], "audio": audio["rates"],
                 "audio_slow": audio_slow["rates"]},
    }
    report("intake benchmark", figures, GOALS, args.runs, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
