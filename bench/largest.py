"""Peak memory of the real daemon for the largest message of each kind it accepts.

Method: a fresh `gateway run` (runtime environment, see bench/runtime.py) on a local
Mosquitto for each kind; its VmHWM once it is up, then one message at the size limit is
published and analysed, and VmHWM read again. The messages are the worst a sensor box can
send within the default limits (issue 12.7): audio, 8 MiB of 48 kHz stereo PCM16 (43.7 s);
vibration, 4 MiB of one-digit samples (about 700,000 per axis, the most JSON numbers 4 MiB
can hold). Goal: peak ≤ 100 MB. The daemon gets the `Environment=` settings of the shipped
unit (systemd/sensor-gateway.service: glibc's malloc tuning), as on a box; `--env K=V` adds
or overrides one (to try a knob), `--no-unit-env` leaves them out (to measure without).

    .venv/bin/python -m bench.largest [--runs 3] [--json F] [--env K=V ...] [--no-unit-env]

Each figure is the median over the runs (the raw runs are printed beside it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.intake import peak_rss_mb
from bench.report import report
from bench.runtime import runtime_python, unit_environment
from gateway.devtools.local_broker import LocalMosquitto, free_port
from gateway.wav import encode_wav

AUDIO_LIMIT, VIBRATION_LIMIT = 8 * 1024 * 1024, 4 * 1024 * 1024
GOALS = {"peak_rss_mb_audio": ("<=", 100), "peak_rss_mb_vibration": ("<=", 100)}


def largest_audio(rng: np.random.Generator) -> bytes:
    frames = (AUDIO_LIMIT - 44) // 4  # two channels of two bytes
    return encode_wav(rng.normal(0, 0.1, (frames, 2)).astype(np.float32), 48_000)


def largest_vibration(rng: np.random.Generator) -> bytes:
    samples = (VIBRATION_LIMIT - 100) // 6  # "d," per sample, three axes
    axes = [",".join(map(str, rng.integers(0, 10, samples))) for _ in range(3)]
    x, y, z = axes
    return f'{{"sample_rate": 25600, "x": [{x}], "y": [{y}], "z": [{z}]}}'.encode()


def analysed(store: Path) -> bool:
    if not store.exists():
        return False
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return bool(conn.execute("SELECT (SELECT count(*) FROM results) + (SELECT count(*) "
                                 "FROM dead_letters) + (SELECT count(*) FROM rejected)"
                                 ).fetchone()[0])
    finally:
        conn.close()


def one_run(python: str, kind: str, payload: bytes, work: Path, env: dict[str, str]
            ) -> tuple[float, float, bool]:
    """(VmHWM once up, VmHWM after the message, whether it was analysed rather than refused)."""
    broker = LocalMosquitto(work / "broker").start()
    config = work / "config.toml"
    config.write_text(f'[gateway]\nid = "gw-big"\ndata_dir = "{work / "data"}"\n'
                      f'[mqtt]\nport = {broker.port}\n[metrics]\nport = {free_port()}\n')
    log = (work / "gateway.log").open("wb")
    daemon = subprocess.Popen([python, "-m", "gateway", "run", "-c", str(config)], stdout=log,
                              stderr=subprocess.STDOUT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while b"msg=subscribed" not in (work / "gateway.log").read_bytes():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"gateway did not start, see {work / 'gateway.log'}")
            time.sleep(0.1)
        time.sleep(2)
        up = peak_rss_mb(daemon.pid)
        box = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        box.connect("127.0.0.1", broker.port)
        box.loop_start()
        box.publish(f"sensors/box-big/{kind}", payload, qos=1).wait_for_publish(60)
        deadline = time.monotonic() + 300
        while not analysed(work / "data" / "gateway.db") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        peak = peak_rss_mb(daemon.pid)
        box.loop_stop()
        conn = sqlite3.connect(work / "data" / "gateway.db")
        stored = conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
        conn.close()
        return up, peak, stored
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--env", action="append", default=[], metavar="K=V",
                        help="one more environment setting for the daemon")
    parser.add_argument("--no-unit-env", action="store_true",
                        help="without the unit's Environment= settings")
    args = parser.parse_args(argv)
    env = {} if args.no_unit_env else unit_environment()
    env.update(item.split("=", 1) for item in args.env)
    python = runtime_python()
    rng = np.random.default_rng(12)
    figures: dict = {"machine": f"{platform.machine()} {platform.python_version()}",
                     "environment": " ".join(f"{k}={v}" for k, v in env.items()), "runs": {}}
    for kind, payload in (("audio", largest_audio(rng)), ("vibration", largest_vibration(rng))):
        runs = figures["runs"]
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                up, peak, stored = one_run(python, kind, payload, Path(tmp), env)
            runs.setdefault(f"peak_rss_mb_{kind}", []).append(peak)
            runs.setdefault(f"rss_up_mb_{kind}", []).append(up)
            runs.setdefault(f"analysed_{kind}", []).append(stored)
        figures[f"bytes_{kind}"] = len(payload)
        figures[f"peak_rss_mb_{kind}"] = round(median(runs[f"peak_rss_mb_{kind}"]), 1)
        figures[f"rss_up_mb_{kind}"] = round(median(runs[f"rss_up_mb_{kind}"]), 1)
    report("Largest messages", figures, GOALS, args.runs, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
