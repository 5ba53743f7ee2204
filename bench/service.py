"""Service benchmark: start-to-READY time and idle memory of the real daemon.

Method: a private Mosquitto, then `gateway run` with NOTIFY_SOCKET pointing at a datagram
socket this script owns (the sd_notify protocol systemd speaks); the time from spawning the
process to READY=1 (store open, model loaded, broker session up) is measured, then the
daemon idles for --idle-s seconds and its resident memory (VmRSS) is read. Median of --runs.

    .venv/bin/python -m bench.service [--runs 3] [--idle-s 10] [--json F]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.report import report
from bench.runtime import runtime_python
from gateway.devtools.local_broker import LocalMosquitto

REPO = Path(__file__).resolve().parent.parent
GOALS = {"start_to_ready_s": ("<=", 2.0), "idle_rss_mb": ("<=", 80)}


def rss_mb(pid: int, field: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(idle_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        workdir = Path(tmp)
        with LocalMosquitto(workdir / "broker") as broker:
            config = workdir / "config.toml"
            config.write_text(f'[gateway]\nid = "gw-bench"\ndata_dir = "{workdir / "data"}"\n'
                              f'[mqtt]\nport = {broker.port}\n[metrics]\nenabled = false\n')
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(workdir / "notify.sock"))
            sock.settimeout(30)
            env = {**os.environ, "NOTIFY_SOCKET": str(workdir / "notify.sock")}
            started = time.monotonic()
            proc = subprocess.Popen([runtime_python(), "-m", "gateway", "run", "-c", str(config)],
                                    cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                while b"READY=1" not in sock.recv(4096):
                    pass
                ready_s = time.monotonic() - started
                time.sleep(idle_s)
                idle = rss_mb(proc.pid)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
                sock.close()
    return {"ready_s": ready_s, "rss_mb": idle}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    runs = [one_run(args.idle_s) for _ in range(args.runs)]
    figures = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "start_to_ready_s": round(statistics.median(r["ready_s"] for r in runs), 2),
        "idle_rss_mb": round(statistics.median(r["rss_mb"] for r in runs), 1),
        "runs": {"start_to_ready_s": [round(r["ready_s"], 2) for r in runs],
                 "idle_rss_mb": [round(r["rss_mb"], 1) for r in runs]},
    }
    report("service benchmark", figures, GOALS, args.runs, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
