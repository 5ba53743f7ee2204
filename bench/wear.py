"""Wear benchmark: bytes the daemon writes to the card per message, and what that costs a card.

SD cards die of writes. Method: a private Mosquitto, the reference receiver as the cloud (in
another process, so uploads and what they write happen as on a site), and the real
daemon from the runtime-only environment (bench/runtime.py) at its shipped log level, its
stdout kept as the journal would keep it. Each phase starts a fresh daemon and data dir on
the real disk (not tmpfs: /proc/PID/io counts only what reaches the storage layer), waits
until it is subscribed and settled, then reads `write_bytes` from /proc/PID/io of the daemon
and of Mosquitto before and after a **steady, paced** load from this process (not a burst):

- idle: no traffic for --idle-s; scaled to bytes per hour;
- telemetry: 30 boxes × 1 message/s of the BRIEF.md payload (~200 bytes) for --steady-s;
- audio: 30 boxes × one 1 s, 16 kHz PCM16 window every 5 s (6 windows/s, 32 KB each),
  stored, analysed, results published and uploaded, for --steady-s;
- sizing: both at once (the load the product is sized for);
- learned: the audio load once every box has learned its normal (`[inference]
  baseline_windows` at its minimum, LEARN_WINDOWS, sent and settled before the count
  starts), so every window counted is scored and moves its device's drifting centre. The
  audio phase's boxes never finish learning (12 windows; the default baseline is 100).

Each count ends with a checkpoint of the frames the store's WAL still holds (run by the bench
in a child process, its bytes counted with the daemon's: the phase wrote them once and the
daemon's next checkpoint writes them again), so a phase that ends between two of the daemon's
checkpoints does not count its rows once instead of twice (round 7 of docs/performance.md's
"Wear").

Printed per phase: daemon bytes per message and as a multiple of the payload, MB/h; the
broker's and the journal's bytes apart. Projected from the sizing phase: GB written per day
and the years a card lasts, for a card of --card-gb with an endurance of --pe-cycles full
writes (an assumption: 3,000 is typical of the pSLC/MLC "high endurance" class; a plain
TLC card manages ~500-1,000), ignoring the card's own write amplification.

    .venv/bin/python -m bench.wear [--steady-s 60] [--idle-s 120] [--card-gb 32] [--json F]
    .venv/bin/python -m bench.wear --only audio [--runs 3] [--page-size 1024]  # one phase
    .venv/bin/python -m bench.wear --only learned [--runs 3]
    .venv/bin/python -m bench.wear --only telemetry --intake 'telemetry_delay_ms = 1000'

Where the bytes go (per file, WAL frames per commit, by table and index): bench/wear_breakdown.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import report
from bench.runtime import runtime_python
from gateway.devtools.local_broker import LocalMosquitto
from gateway.store.outbox import pending_records
from gateway.wav import encode_wav
from tests.support import Publisher, store_rows

REPO = Path(__file__).resolve().parent.parent
GOALS = {"telemetry_x_payload": ("<=", 3.0), "audio_x_payload": ("<=", 1.5),
         "learned_audio_x_payload": ("<=", 1.5),
         "idle_mb_per_h": ("<=", 1.0), "card_years": (">=", 5.0)}
BOXES = 30
WINDOW_EVERY_S = 5.0
TOKEN = "bench-wear-token"
LEARN_WINDOWS = 10  # InferenceSection.baseline_windows' minimum
LEARN_EVERY_S = 1.0  # each box's pace while learning (not counted)
TELEMETRY = {"device_id": "", "timestamp": 0.0, "temperature": -18.2,
             "vibration": {"x": 0.2, "y": 0.1, "z": 0.3}, "power_consumption": 45.2,
             "audio_level": 150, "sensor_quality": 0.95}


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes for pid {pid}")


def start_receiver(workdir: Path) -> tuple[subprocess.Popen, str]:
    token_file = workdir / "token"
    token_file.write_text(TOKEN)
    receiver = subprocess.Popen(
        [sys.executable, "-m", "gateway.devtools.receiver.server", "--port", "0",
         "--token-file", str(token_file), "--ids-only", "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = receiver.stdout.readline()
    if "http://" not in line:
        raise RuntimeError(f"receiver did not start: {line!r}")
    return receiver, line[line.index("http://"):].split()[0]


def daemon_config(workdir: Path, port: int, url: str, intake: str = "",
                  sections: str = "") -> Path:
    """The daemon's config; `intake` holds extra [intake] lines (a linger to compare),
    `sections` whole sections more."""
    config = workdir / "config.toml"
    config.write_text(f'[gateway]\nid = "gw-wear"\ndata_dir = "{workdir / "data"}"\n'
                      f'[mqtt]\nport = {port}\n[metrics]\nenabled = false\n'
                      f'[sync]\nurl = "{url}"\ntoken_file = "{workdir / "token"}"\n'
                      f'interval_s = 30\n[intake]\n{intake}\n{sections}')
    return config


def audio_payloads(count: int) -> list[bytes]:
    rng = np.random.default_rng(11)
    base = encode_wav(rng.normal(0, 0.05, 16_000).clip(-1, 1), 16_000)
    return [base[:-4] + n.to_bytes(4, "little") for n in range(count)]  # each one distinct


def paced_load(boxes: Publisher, seconds: float, telemetry: bool, audio: bool,
               window_every_s: float = WINDOW_EVERY_S, first: int = 0) -> dict:
    """Publish at a steady pace for `seconds`; the counts and payload bytes sent. Audio
    payloads are numbered from `first` (each distinct from those sent before)."""
    windows = audio_payloads(first + int(seconds / window_every_s * BOXES) + BOXES)[first:] \
        if audio else []
    sent = {"telemetry": 0, "audio": 0, "telemetry_bytes": 0, "audio_bytes": 0}
    start = time.monotonic()
    next_window = [start + i * window_every_s / BOXES for i in range(BOXES)]
    next_telemetry = [start + i / BOXES for i in range(BOXES)]
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        for i in range(BOXES):
            if telemetry and now >= next_telemetry[i]:
                payload = json.dumps({**TELEMETRY, "device_id": f"box-{i}",
                                      "timestamp": time.time()}).encode()
                boxes.publish(f"sensors/box-{i}/telemetry", payload)
                sent["telemetry"] += 1
                sent["telemetry_bytes"] += len(payload)
                next_telemetry[i] += 1.0
            if audio and now >= next_window[i]:
                payload = windows[sent["audio"]]
                boxes.publish(f"sensors/box-{i}/audio", payload, ts_ms=int(time.time() * 1000))
                sent["audio"] += 1
                sent["audio_bytes"] += len(payload)
                next_window[i] += window_every_s
        time.sleep(0.002)
    return sent


def waiting(data_dir: Path) -> int:
    """Records waiting for the cloud (the outbox's and telemetry above the watermark)."""
    conn = sqlite3.connect(f"file:{data_dir / 'gateway.db'}?mode=ro", uri=True)
    try:
        return pending_records(conn)
    finally:
        conn.close()


def settled(data_dir: Path, proc: subprocess.Popen, kind: str, expected: int) -> None:
    """Wait until what was sent is stored, analysed and uploaded (nothing waits)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode})")
        stored = store_rows(data_dir, "SELECT value FROM counters WHERE name = ?",
                            (f"received_{kind}",)) if expected else [(0,)]
        if (stored and stored[0][0] >= expected) and waiting(data_dir) == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{kind}: not settled in time")


def precreate_store(data_dir: Path, page_size: int) -> None:
    """An empty store with `page_size` (0: leave it to the daemon): the daemon migrates it
    and keeps its page size, so a page size can be measured without changing the code."""
    if not page_size:
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "gateway.db")
    try:
        conn.execute(f"PRAGMA page_size = {int(page_size)}")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


def phase(name: str, seconds: float, telemetry: bool, audio: bool, page_size: int = 0,
          intake: str = "") -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bench-wear-{name}-", dir="/var/tmp"))
    precreate_store(root / "data", page_size)
    receiver, url = start_receiver(root)
    journal = root / "journal.log"
    learned = name == "learned"
    sections = (f"[inference]\nbaseline_windows = {LEARN_WINDOWS}\nbaseline_hours = 0\n"
                if learned else "")
    try:
        with LocalMosquitto(root / "broker") as broker, journal.open("wb") as out:
            proc = subprocess.Popen([runtime_python(), "-m", "gateway", "run", "-c",
                                     str(daemon_config(root, broker.port, url, intake,
                                                       sections=sections))],
                                    cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
            try:
                if learned:
                    return _measure_learned(root, proc, broker, journal, seconds)
                return _measure(root, proc, broker, journal, seconds, telemetry, audio)
            finally:
                proc.terminate()
                proc.wait(60)
    finally:
        receiver.terminate()
        receiver.wait(30)
        subprocess.run(["rm", "-rf", str(root)], check=False)


# Retention's first run comes 5 s after start (PeriodicJob's first_after_s) and its
# checkpoint copies the start-up writes (the schema, ~190 KB) into the file: start-up, not
# the steady state, so the count starts after it.
SETTLE_AFTER_START_S = 8.0


def wait_subscribed(journal: Path, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """Until the daemon subscribed and its start-up writes (migrations, model check, the
    first checkpoint) are done: they are not the steady state."""
    started = time.monotonic()
    deadline = started + timeout_s
    while b"msg=subscribed" not in journal.read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the daemon did not subscribe")
        time.sleep(0.1)
    time.sleep(max(3.0, SETTLE_AFTER_START_S - (time.monotonic() - started)))


def load_until_settled(root: Path, proc: subprocess.Popen, port: int, seconds: float,
                       telemetry: bool, audio: bool) -> dict:
    """The paced load (or quiet) for `seconds`, then until everything sent is stored and
    uploaded; what was sent, with the seconds it all took."""
    started = time.monotonic()
    boxes = Publisher(port)
    try:
        sent = paced_load(boxes, seconds, telemetry, audio) if telemetry or audio else {}
        if not sent:
            time.sleep(seconds)
    finally:
        boxes.close()
    kind = "audio" if audio else "telemetry"
    settled(root / "data", proc, kind, sent.get(kind, 0))
    return {"seconds": time.monotonic() - started, **sent}


# Run in a child process: the bytes a checkpoint of what the WAL still holds writes, read
# from the child's own /proc/self/io before it exits.
_CHECKPOINT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30)
busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
conn.close()
written = [l for l in open("/proc/self/io") if l.startswith("write_bytes:")][0].split()[1]
print(busy, frames, copied, written)
"""


def pending_checkpoint(data_dir: Path) -> int:
    """Bytes that copying the WAL's frames not yet checkpointed into the database file
    writes. They are the phase's: a phase that ends between two checkpoints (the daemon's
    autocheckpoint every 1,000 pages) would otherwise count its rows once instead of twice,
    and fewer, larger commits would look cheaper than they are."""
    out = subprocess.run([sys.executable, "-c", _CHECKPOINT, str(data_dir / "gateway.db")],
                         capture_output=True, text=True, check=True).stdout.split()
    busy, frames, copied, written = map(int, out)
    if busy or copied != frames:
        raise RuntimeError(f"the final checkpoint copied {copied} of {frames} frames")
    return written


def _measure(root, proc, broker, journal, seconds, telemetry, audio) -> dict:
    wait_subscribed(journal, proc)
    before = (write_bytes(proc.pid), write_bytes(broker.process.pid), journal.stat().st_size)
    sent = load_until_settled(root, proc, broker.port, seconds, telemetry, audio)
    after = (write_bytes(proc.pid), write_bytes(broker.process.pid), journal.stat().st_size)
    daemon, broker_bytes, journal_bytes = (b - a for a, b in zip(before, after, strict=True))
    checkpoint = pending_checkpoint(root / "data")
    return {"daemon": daemon + checkpoint, "final_checkpoint": checkpoint,
            "broker": broker_bytes, "journal": journal_bytes, **sent}


def learn(root: Path, proc: subprocess.Popen, port: int) -> None:
    """Every box sends LEARN_WINDOWS windows, paced; until each box has its fit."""
    payloads = iter(audio_payloads(BOXES * LEARN_WINDOWS))
    boxes = Publisher(port)
    try:
        for _ in range(LEARN_WINDOWS):
            for i in range(BOXES):
                boxes.publish(f"sensors/box-{i}/audio", next(payloads),
                              ts_ms=int(time.time() * 1000))
            time.sleep(LEARN_EVERY_S)
    finally:
        boxes.close()
    settled_results(root / "data", proc, BOXES * LEARN_WINDOWS)
    fitted = store_rows(root / "data", "SELECT count(*) FROM baselines WHERE fit IS NOT NULL")
    if fitted != [(BOXES,)]:
        raise RuntimeError(f"learning did not end: {fitted} of {BOXES} boxes fitted")


def settled_results(data_dir: Path, proc: subprocess.Popen, expected: int) -> None:
    """Until `expected` windows have their result and nothing waits for the cloud."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode})")
        if (store_rows(data_dir, "SELECT count(*) FROM results")[0][0] >= expected
                and waiting(data_dir) == 0):
            return
        time.sleep(0.5)
    raise RuntimeError("results: not settled in time")


def _measure_learned(root, proc, broker, journal, seconds) -> dict:
    """The audio phase's load, counted only once every box is learned; `scored` is how many
    of the counted windows had a threshold to be scored against (all, unless learning
    failed)."""
    wait_subscribed(journal, proc)
    learn(root, proc, broker.port)
    time.sleep(SETTLE_AFTER_START_S)  # the learning's last commits and checkpoint
    scored_sql = "SELECT count(*) FROM results WHERE threshold IS NOT NULL"
    (scored_before,), = store_rows(root / "data", scored_sql)
    before = (write_bytes(proc.pid), write_bytes(broker.process.pid), journal.stat().st_size)
    started = time.monotonic()
    boxes = Publisher(broker.port)
    try:
        sent = paced_load(boxes, seconds, False, True, first=BOXES * LEARN_WINDOWS)
    finally:
        boxes.close()
    settled_results(root / "data", proc, BOXES * LEARN_WINDOWS + sent["audio"])
    after = (write_bytes(proc.pid), write_bytes(broker.process.pid), journal.stat().st_size)
    daemon, broker_bytes, journal_bytes = (b - a for a, b in zip(before, after, strict=True))
    (scored,), = store_rows(root / "data", scored_sql)
    checkpoint = pending_checkpoint(root / "data")
    return {"daemon": daemon + checkpoint, "final_checkpoint": checkpoint,
            "broker": broker_bytes, "journal": journal_bytes,
            "seconds": time.monotonic() - started, "scored": scored - scored_before, **sent}


def summarise(phases: dict, card_gb: float, pe_cycles: float) -> dict:
    tel, aud, idle, sizing = (phases[k] for k in ("telemetry", "audio", "idle", "sizing"))
    per_day = sizing["daemon"] / sizing["seconds"] * 86_400
    card_bytes = card_gb * 1e9 * pe_cycles
    return {
        "telemetry_bytes_per_msg": round(tel["daemon"] / tel["telemetry"]),
        "telemetry_x_payload": round(tel["daemon"] / tel["telemetry_bytes"], 2),
        "audio_bytes_per_window": round(aud["daemon"] / aud["audio"]),
        "audio_x_payload": round(aud["daemon"] / aud["audio_bytes"], 2),
        "idle_mb_per_h": round(idle["daemon"] / idle["seconds"] * 3600 / 1e6, 3),
        **learned_figures(phases["learned"]),
        "broker_bytes_per_msg": round(sizing["broker"] / max(
            sizing["telemetry"] + sizing["audio"], 1)),
        "journal_bytes_per_msg": round(sizing["journal"] / max(
            sizing["telemetry"] + sizing["audio"], 1)),
        "sizing_gb_per_day": round(per_day / 1e9, 2),
        "card_years": round(card_bytes / per_day / 365, 1),
    }


def learned_figures(learned: dict) -> dict:
    return {"learned_audio_bytes_per_window": round(learned["daemon"] / learned["audio"]),
            "learned_audio_x_payload": round(learned["daemon"] / learned["audio_bytes"], 2),
            "learned_scored_share": round(learned["scored"] / learned["audio"], 3)}


PHASES = {"telemetry": (True, False), "audio": (False, True), "sizing": (True, True),
          "learned": (False, True)}


def only(name: str, seconds: float, runs: int, page_size: int, intake: str = "") -> int:
    """Bytes per message of one phase over `runs` runs, and their median."""
    telemetry, audio = PHASES[name]
    per_msg = []
    for _ in range(runs):
        p = phase(name, seconds, telemetry, audio, page_size, intake)
        messages = p["telemetry"] + p["audio"]
        payload = p["telemetry_bytes"] + p["audio_bytes"]
        per_msg.append(p["daemon"] / messages)
        print(f"{name}: {p['daemon'] / messages:,.0f} B per message "
              f"({p['daemon'] / payload:.2f}x the payload; the final checkpoint "
              f"{p.get('final_checkpoint', 0) / messages:,.0f} of it), {messages} messages"
              + (f", {p['scored']} scored" if "scored" in p else ""), flush=True)
    print(f"{name}: median of {runs}: {statistics.median(per_msg):,.0f} B per message")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady-s", type=float, default=60.0)
    parser.add_argument("--idle-s", type=float, default=120.0)
    parser.add_argument("--card-gb", type=float, default=32.0)
    parser.add_argument("--pe-cycles", type=float, default=3000.0,
                        help="full-card writes the card endures (an assumption; see the doc)")
    parser.add_argument("--runs", type=int, default=1,
                        help="with --only: runs of that phase (the median is printed); "
                        "otherwise accepted for run_all, one run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", choices=PHASES, help="one phase, --runs times: its bytes "
                        "per message (median), to compare one change")
    parser.add_argument("--page-size", type=int, default=0,
                        help="start from an empty store of this page size (default: the "
                        "daemon's own)")
    parser.add_argument("--intake", default="", help="with --only: extra [intake] config "
                        "lines, e.g. 'telemetry_delay_ms = 1000' (a linger to compare)")
    args = parser.parse_args()
    if args.only:
        return only(args.only, args.steady_s, args.runs, args.page_size, args.intake)
    phases = {"idle": phase("idle", args.idle_s, False, False),
              "telemetry": phase("telemetry", args.steady_s, True, False),
              "audio": phase("audio", args.steady_s, False, True),
              "learned": phase("learned", args.steady_s, False, True),
              "sizing": phase("sizing", args.steady_s, True, True)}
    figures = {"machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                          f"{platform.python_version()}, {args.card_gb:g} GB card at "
                          f"{args.pe_cycles:g} full writes",
               **summarise(phases, args.card_gb, args.pe_cycles),
               "runs": {name: {k: round(v) for k, v in p.items()} for name, p in phases.items()}}
    report("wear benchmark", figures, GOALS, 1, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
