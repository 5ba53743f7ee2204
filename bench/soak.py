"""Soak: the whole system under a steady load for a while, the daemon's memory sampled.

The demo's parts (gateway/devtools/demo/parts.py): a private Mosquitto, the reference receiver
as the cloud, and simulated boxes each publishing a 1 s audio window, a vibration window and a
telemetry message every second (one box develops a leak after its baseline). The daemon runs
from the runtime-only environment with the unit's `Environment=` settings (bench/runtime.py),
as on a box. Every few seconds its RSS and CPU time are read from /proc. Printed: RSS after
the first minute, at the end, the peak (VmHWM), the growth over the second half of the run
(least squares, MB per hour), the daemon's CPU share of one core, and what flowed: windows
analysed, records at the cloud, rejections, dead letters, the queue and upload backlogs at
the end.

    .venv/bin/python -m bench.soak [--duration 600] [--boxes 30] [--json F]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from bench.report import report
from bench.runtime import runtime_python, unit_environment
from gateway.devtools.demo.parts import Demo

GOALS = {"peak_rss_mb": ("<=", 80)}
SAMPLE_EVERY_S = 5.0
WARM_UP_S = 60.0


def proc_figures(pid: int) -> tuple[float, float, float]:
    """(RSS MB, peak RSS MB, CPU seconds) of a process."""
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024,
            cpu_s)


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 3600 if var else float("nan")


def soak(duration_s: float, boxes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        demo = Demo(boxes, Path(tmp), python=runtime_python())
        stop = threading.Event()
        try:
            demo.start(stop)
            pid = demo.daemon.pid
            started, (_, _, cpu0) = time.monotonic(), proc_figures(pid)
            samples: list[tuple[float, float]] = []
            while (elapsed := time.monotonic() - started) < duration_s:
                time.sleep(SAMPLE_EVERY_S)
                demo.check_daemon()
                samples.append((elapsed, proc_figures(pid)[0]))
            rss, peak, cpu1 = proc_figures(pid)
            snap = demo.snapshot()
        finally:
            demo.stop()
    status = snap.status
    after_warm_up = [m for t, m in samples if t >= WARM_UP_S] or [rss]
    second_half = [(t, m) for t, m in samples if t >= duration_s / 2]
    return {
        "duration_s": round(duration_s), "boxes": boxes,
        "rss_mb_after_1_min": round(after_warm_up[0], 1), "rss_mb_at_end": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb_per_h_second_half": round(slope_mb_per_hour(second_half), 2),
        "cpu_share_of_one_core": round((cpu1 - cpu0) / (time.monotonic() - started), 3),
        **{f"received_{stream}": n for stream, n in status.get("received", {}).items()},
        "windows_analysed": status.get("inferred", 0),
        "records_at_cloud": snap.at_cloud, "alerts": len(snap.alerts),
        "rejected": status.get("rejected", 0), "dead_letters": status.get("dead_letters", 0),
        "analysis_backlog_at_end": status.get("pending_inference", 0),
        "upload_backlog_at_end": status.get("pending_sync", 0),
        "runs": {"rss_mb_each_minute": [round(m, 1) for t, m in samples
                                        if int(t // 60) != int((t - SAMPLE_EVERY_S) // 60)]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--boxes", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1, help="accepted for run_all; one run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-unit-env", action="store_true",
                        help="without the unit's Environment= settings")
    args = parser.parse_args()
    env = {} if args.no_unit_env else unit_environment()
    os.environ.update(env)  # the daemon inherits this process's environment
    figures = {"machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                          f"{platform.python_version()}",
               "environment": " ".join(f"{k}={v}" for k, v in env.items()),
               **soak(args.duration, args.boxes)}
    report("soak benchmark", figures, GOALS, 1, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
