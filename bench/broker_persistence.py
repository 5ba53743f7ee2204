"""What one Mosquitto persistence save costs while the gateway is away (issue 13.4).

Mosquitto (bookworm's 2.0.11) rewrites its whole in-memory database on every autosave and
blocks its event loop meanwhile, so the cost of an interval is (save time / interval) of
the broker, and the loss on a power cut is up to the interval plus one save. This queues
N MB of 32 KB QoS 1 messages for an offline persistent session (the stopped gateway), lets
the broker save every second for a few seconds under strace, and reports the wall time
from opening mosquitto.db.new to its rename (write + fsync), per queue size.

    python -m bench.broker_persistence [--sizes-mb 8 32 128] [--json FILE]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.report import report
from gateway.devtools.local_broker import LocalMosquitto

WINDOW = b"\x01" * 32 * 1024


def queue_for_offline_session(port: int, megabytes: int) -> None:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    gateway = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="away", protocol=mqtt.MQTTv5)
    gateway.connect("127.0.0.1", port, clean_start=False, properties=props)
    gateway.loop_start()
    gateway.subscribe("sensors/#", qos=1)
    time.sleep(0.5)
    gateway.disconnect()
    gateway.loop_stop()
    box = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="box", protocol=mqtt.MQTTv5)
    box.connect("127.0.0.1", port)
    box.loop_start()
    infos = [box.publish("sensors/box-1/audio", WINDOW, qos=1)
             for _ in range(megabytes * 1024 * 1024 // len(WINDOW))]
    for info in infos:
        info.wait_for_publish(60)
    box.disconnect()
    box.loop_stop()


def save_times_ms(trace: Path) -> list[float]:
    """Wall time of each save: openat(...db.new) to the rename that ends it."""
    times, start = [], None
    for line in trace.read_text().splitlines():
        stamp = float(line.split()[0])
        if "mosquitto.db.new" in line and "openat(" in line:
            start = stamp
        elif "rename(" in line and start is not None:
            times.append((stamp - start) * 1000)
            start = None
    return times


def measure(megabytes: int) -> dict:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        broker = LocalMosquitto(Path(tmp) / "broker")
        conf = broker.write_config()
        conf.write_text(conf.read_text().replace("autosave_interval 10", "autosave_interval 1"))
        broker.write_config = lambda: conf  # type: ignore[method-assign]
        broker.start()
        queue_for_offline_session(broker.port, megabytes)
        trace = Path(tmp) / "trace"
        tracer = subprocess.Popen(["strace", "-ttt", "-e", "trace=openat,rename,fsync",
                                   "-p", str(broker.process.pid), "-o", str(trace)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(6)
        tracer.terminate()
        tracer.wait()
        db = Path(tmp) / "broker" / "mosquitto.db"
        size_mb = db.stat().st_size / 1e6 if db.exists() else 0.0
        broker.stop()
        times = save_times_ms(trace)
    median = statistics.median(times) if times else float("nan")
    return {f"q{megabytes}mb_db_size_mb": round(size_mb, 1),
            f"q{megabytes}mb_save_ms": round(median, 1),
            f"q{megabytes}mb_saves_seen": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("strace is needed: apt-get install strace")
    figures: dict = {"machine": f"{platform.machine()} {platform.node()}", "runs": 1}
    for size in args.sizes_mb:
        figures.update(measure(size))
    report("Mosquitto persistence save cost", figures, {}, 1, args.json)


if __name__ == "__main__":
    main()
