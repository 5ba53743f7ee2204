"""`gateway demo` from outside: the real command as a subprocess, with a real Mosquitto, the
real daemon, the simulator and the reference receiver; then nothing of it may be left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from gateway.devtools.demo.parts import Demo, LocalDisplay, Snapshot
from gateway.devtools.demo.view import render
from tests.support import REPO, Publisher, wait_for

DEMO = [sys.executable, "-c",
        "from gateway.devtools.demo.view import main; raise SystemExit(main())"]


def _demo_env(tmp_path: Path) -> dict[str, str]:
    # The demo makes its temporary directory under TMPDIR: here, one this test can inspect.
    return {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}


def _figure(summary: str, label: str) -> int:
    match = re.search(rf"^\s*{label}:\s+(\d+)", summary, re.MULTILINE)
    assert match, f"no {label!r} line in the summary:\n{summary}"
    return int(match.group(1))


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line names `text` (the broker and the daemon name their
    files in the demo's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # gone meanwhile, or not ours
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_the_demo_analyses_alerts_on_the_faulty_box_uploads_and_cleans_up(tmp_path):
    out = subprocess.run([*DEMO, "--duration", "30"], capture_output=True, text=True, cwd=REPO,
                         env=_demo_env(tmp_path), timeout=240)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    assert "demo summary" in out.stdout, out.stdout
    summary = out.stdout[out.stdout.index("demo summary"):]
    assert _figure(summary, "windows analysed") > 0
    assert _figure(summary, "alerts raised") >= 1
    scripted = re.search(r"box-(\d+) was scripted to develop a (\w+)", summary)
    assert re.search(rf"^\s+box-{scripted.group(1)} anomaly at ", summary, re.MULTILINE), summary
    assert _figure(summary, "records at the cloud") > 0
    assert _figure(summary, "dead letters") == 0
    # What was not uploaded goes with the demo's folder: the summary says so, not "kept".
    assert re.search(r"^\s+not yet uploaded:\s+\d+ \(deleted with the demo's folder; --keep "
                     r"keeps it\)$", summary, re.MULTILINE), summary
    assert _processes_mentioning(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []  # the demo's directory is gone


def test_ctrl_c_ends_the_demo_with_its_summary_and_keep_leaves_the_files(tmp_path):
    demo = subprocess.Popen([*DEMO, "--keep", "--boxes", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=_demo_env(tmp_path))
    try:
        # Not a terminal: a progress line every few seconds, the first once the boxes publish.
        progress = demo.stdout.readline()
        while progress and not progress.startswith("["):
            progress = demo.stdout.readline()
        assert progress, demo.stderr.read()
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, stderr
    assert "demo summary" in stdout
    kept, = tmp_path.iterdir()
    assert f"demo: kept {kept}" in stdout
    assert f"(kept in the store in {kept})" in stdout
    assert (kept / "config.toml").is_file() and (kept / "gateway.log").is_file()
    assert "gateway stopped" in (kept / "gateway.log").read_text()  # SIGTERM, not a kill
    assert _processes_mentioning(str(tmp_path)) == []


def _rendered(snap: Snapshot, demo: Demo) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    console.print(render(snap, demo, None))
    return console.export_text()


def test_the_iso_column_shows_the_zone_of_the_latest_vibration_result(tmp_path, broker):
    """The live view's "ISO 10816" column: the zone and RMS velocity of the box's latest
    vibration result, as published on the local broker, not a learned threshold."""
    display = LocalDisplay(broker.port, "gateway/gw-demo", lambda: 0.0)
    publisher = Publisher(broker.port)
    try:
        result = {"id": "s-1", "device_id": "box-1", "stream": "vibration", "ts": 1,
                  "score": 1.2, "threshold": 6.0, "anomaly": False,
                  "details": {"state": "normal", "iso_zone": "C", "rms_velocity_mm_s": 5.25}}

        def seen() -> dict:
            # Again until seen: the display subscribes once its asynchronous connect is done.
            publisher.publish("gateway/gw-demo/box-1/result", json.dumps(result))
            return display.latest_vibration()

        wait_for(seen, timeout_s=10, interval_s=0.2, what="the result at the display")
    finally:
        publisher.close()
        display.close()
    stream = {"state": "normal", "last_score": 1.2, "threshold": 6.0, "baseline_windows": 12,
              "why": ""}
    status = {"devices": [{"device_id": "box-1", "streams": {"vibration": stream}}]}
    text = _rendered(Snapshot(1.0, status, [], 0, display.latest_vibration()), Demo(2, tmp_path))
    assert "vibration (mm/s, ISO 10816 zone)" in text
    assert "normal 5.25 mm/s zone C" in text
    assert "(threshold 6" not in text  # the learned threshold is not an ISO figure
