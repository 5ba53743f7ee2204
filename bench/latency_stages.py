"""Where a quiet window's publish → result latency goes, stage by stage, on the real daemon.

The daemon runs from the runtime environment as `gateway run`, with a time stamp (the
system-wide monotonic clock, which this process reads too) taken at each stage boundary by
wrapping the function that ends the stage; a separate client process publishes the 30
sensors' windows without telemetry (bench/inference.py's quiet load) and receives the
results. Each window is followed through the stages in order (at 6 windows/s a window is
nearly always alone in the pipeline); per stage the median, p90 and max of the time from
the previous boundary.

    .venv/bin/python -m bench.latency_stages [--seconds 30]

Stages: received by paho (`MqttBridge._on_message`), intake committed
(`IntakeStore.write_batch` returned: parse, queue, linger, FULL commit), queued (Huey
enqueue returned), dequeued (`Analyser.handle` entered), claimed, analysed (handed to the
result writer), result committed (`ResultStore.save_batch` returned: linger, FULL commit),
publishing (the publisher's `_send` of the result), received by the client.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from functools import wraps
from pathlib import Path

STAGES = (
    ("paho received", "gateway.mqtt_bridge", "MqttBridge", "_on_message", "enter"),
    ("intake committed", "gateway.store.database", "IntakeStore", "write_batch", "exit"),
    ("queued", "gateway.inference.queue", "AnalysisQueue", "enqueue", "exit"),
    ("dequeued", "gateway.inference.worker", "Analyser", "handle", "enter"),
    ("claimed", "gateway.inference.results", "ResultStore", "claim", "exit"),
    ("analysed", "gateway.inference.result_writer", "ResultWriter", "submit", "enter"),
    ("result committed", "gateway.inference.results", "ResultStore", "save_batch", "exit"),
    ("publishing", "gateway.delivery.publisher", "Publisher", "_send", "enter"),
)


def traced_daemon(argv: list[str], events_path: str) -> int:
    """`gateway run` with the stage boundaries stamped; the stamps written at exit."""
    import importlib

    events: list[tuple[str, float]] = []

    def stamped(name, fn, when):
        @wraps(fn)
        def inner(*args, **kwargs):
            if when == "enter":
                events.append((name, time.monotonic()))
            result = fn(*args, **kwargs)
            if when == "exit":
                events.append((name, time.monotonic()))
            return result
        return inner

    for name, module, cls, method, when in STAGES:
        owner = getattr(importlib.import_module(module), cls)
        setattr(owner, method, stamped(name, getattr(owner, method), when))
    atexit.register(lambda: Path(events_path).write_text(json.dumps(events)))
    from gateway.cli import main
    return main(argv)


def follow(sends: list[float], boundaries: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per stage, each window's time (ms) from the previous boundary to the next one."""
    order = [name for name, *_ in STAGES] + ["client received"]
    spans: dict[str, list[float]] = {name: [] for name in order}
    for sent in sends:
        previous, row = sent, {}
        for name in order:
            stamps = boundaries[name]
            at = bisect.bisect_left(stamps, previous)
            if at == len(stamps):
                break
            row[name], previous = (stamps[at] - previous) * 1000, stamps[at]
        if len(row) == len(order) and previous - sent < 1.0:
            for name, ms in row.items():
                spans[name].append(ms)
    return spans


def run(seconds: float) -> dict[str, list[float]]:
    from bench.inference import ResultClock, _drive_sensors, gateway_config, sensor_wavs
    from bench.intake import BROKER_CORE, GATEWAY_CORE, pinned
    from bench.runtime import runtime_python
    from gateway.devtools.local_broker import LocalMosquitto
    from tests.support import Publisher

    wavs = sensor_wavs(300)
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        workdir = Path(tmp)
        with LocalMosquitto(workdir / "broker", preexec_fn=pinned(BROKER_CORE)) as broker:
            config, events = gateway_config(workdir, broker.port), workdir / "events.json"
            proc = subprocess.Popen(
                [runtime_python(), "-m", "bench.latency_stages", "--daemon", str(events),
                 "run", "-c", str(config)], cwd=Path(__file__).resolve().parent.parent,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=pinned(GATEWAY_CORE))
            time.sleep(3.0)  # model loaded, connected, subscribed
            clock, boxes = ResultClock(broker.port), Publisher(broker.port)
            sends: list[float] = []
            received: list[float] = []
            publish, on_message = boxes.publish, clock._on_message

            def publish_stamped(topic, payload, ts_ms=None):
                sends.append(time.monotonic())
                return publish(topic, payload, ts_ms=ts_ms)

            def received_stamped(client, userdata, message):
                received.append(time.monotonic())
                on_message(client, userdata, message)

            boxes.publish, clock.client.on_message = publish_stamped, received_stamped
            try:
                _drive_sensors(boxes, clock, wavs, seconds, telemetry=False)
                time.sleep(1.0)
            finally:
                clock.close()
                boxes.close()
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
        stamps = json.loads(events.read_text())
    boundaries = {name: sorted(t for n, t in stamps if n == name) for name, *_ in STAGES}
    boundaries["client received"] = sorted(received)
    return follow(sends[SENSORS_WARMUP:], boundaries)


SENSORS_WARMUP = 5  # the first windows also pay for first-call costs


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--daemon":
        return traced_daemon(sys.argv[3:], sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    spans = run(args.seconds)
    total = 0.0
    print(f"stage timings of {len(spans['client received'])} quiet windows, ms "
          f"(daemon pid pinned as bench/inference.py does; os {os.uname().release})")
    for name, values in spans.items():
        values.sort()
        median = statistics.median(values)
        total += median
        print(f"  {name:18} median {median:6.2f}  p90 {values[int(len(values) * 0.9)]:6.2f}  "
              f"max {values[-1]:7.2f}")
    print(f"  {'sum of medians':18} {total:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
