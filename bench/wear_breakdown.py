"""Where the daemon's writes go: per file, per commit, per table and index.

Companion of bench/wear.py: that one counts the bytes, this one says which ones. The same
phases (the daemon from the runtime-only environment, a private Mosquitto, the reference
receiver, a paced load from this process), but the daemon runs under `strace -f` tracing
only its write and fsync calls (a seccomp filter: the other calls run untraced; the tracing
still slows each traced call, so batches may come out a little larger than in bench/wear.py).

From the trace:

- bytes written per file (the store, its WAL, the queue's files, anything else);
- for each SQLite WAL: commits (frames whose header carries the database size), frames per
  commit, and the pages they carry mapped to their table or index with the `dbstat` virtual
  table of that database, read at the end of the phase (pages freed on the way, e.g. outbox
  rows deleted once uploaded, show as "free/unknown");
- what kind of commit they were (the set of tables and indexes one commit touched: intake,
  results, uploads, the daemon's own state ...), with counts;
- checkpoints: pages copied from the WAL into the database file, by table or index.

    .venv/bin/python -m bench.wear_breakdown [--phase telemetry] [--seconds 30] [--history N]
        [--intake 'telemetry_delay_ms = 1000'] [--page-size N] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.runtime import runtime_python
from bench.wear import (
    BOXES,
    REPO,
    daemon_config,
    load_until_settled,
    precreate_store,
    start_receiver,
    wait_subscribed,
    write_bytes,
)
from gateway.devtools.local_broker import LocalMosquitto
from gateway.records import telemetry_key
from gateway.store.database import open_database
from gateway.store.outbox import MARK
from gateway.store.record_ids import advance_seq

PHASES = {"idle": (False, False), "telemetry": (True, False), "audio": (False, True),
          "sizing": (True, True)}
WAL_HEADER = 32
FRAME_HEADER = 24
# pid syscall(fd<path>, "bytes"..., count, offset) = result; strace -f -y -xx -s 24
_CALL = re.compile(r'^(\d+)\s+(pwrite64|write|fsync|fdatasync)\((\d+)<([^>]*)>'
                   r'(?:, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+)(?:, (\d+))?)?\)\s+= (-?\d+)')
# Raw segments are appended with writev (store/segments.py): only the path and the result.
_WRITEV = re.compile(r'^(\d+)\s+writev\((\d+)<([^>]*)>, .*\)\s+= (-?\d+)$')


@dataclass
class WalLog:
    """What one WAL received: frames (page numbers) grouped into commits."""

    frames: list[int] = field(default_factory=list)  # page numbers, in order
    commits: list[list[int]] = field(default_factory=list)
    _open: list[int] = field(default_factory=list)

    def frame(self, header: bytes) -> None:
        page, db_size = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
        self.frames.append(page)
        self._open.append(page)
        if db_size:  # the commit frame of a transaction
            self.commits.append(self._open)
            self._open = []


@dataclass
class Trace:
    bytes_by_file: Counter = field(default_factory=Counter)
    writes_by_file: Counter = field(default_factory=Counter)
    fsyncs_by_file: Counter = field(default_factory=Counter)
    wals: dict[str, WalLog] = field(default_factory=lambda: defaultdict(WalLog))
    checkpointed: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


def _unhex(text: str) -> str:
    """strace -xx writes paths, as it writes data, in \\x escapes."""
    return bytes.fromhex(text.replace("\\x", "")).decode() if text.startswith("\\x") else text


def _segment_file(path: str) -> str:
    """All raw segment files count as one."""
    return str(Path(path).parent / "raw segments") if path.endswith(".seg") else path


def parse_trace(lines: list[str], page_sizes: dict[str, int] | None = None) -> Trace:
    """`page_sizes`: each database file's page size (4096 when not given)."""
    trace = Trace()
    page_sizes = page_sizes or {}
    for line in lines:
        match = _CALL.match(line)
        if not match:
            vector = _WRITEV.match(line)
            if vector and int(vector.group(4)) > 0:
                path = _segment_file(_unhex(vector.group(3)))
                trace.bytes_by_file[path] += int(vector.group(4))
                trace.writes_by_file[path] += 1
            continue
        _pid, call, _fd, path, data, _count, offset, result = match.groups()
        path = _segment_file(_unhex(path))
        if call in ("fsync", "fdatasync"):
            trace.fsyncs_by_file[path] += 1
            continue
        written = int(result)
        if written <= 0:
            continue
        trace.bytes_by_file[path] += written
        trace.writes_by_file[path] += 1
        if call != "pwrite64" or offset is None:
            continue
        offset_n = int(offset)
        if path.endswith("-wal") and written == FRAME_HEADER and offset_n >= WAL_HEADER:
            trace.wals[path].frame(bytes.fromhex(data.replace("\\x", "")))
        elif path.endswith(".db") and written == page_sizes.get(path, 4096):
            trace.checkpointed[path][offset_n // written + 1] += 1
    return trace


def page_size_of(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def page_owners(db_path: Path) -> dict[int, str]:
    """Page number -> table or index, from a copy of the database (with its WAL) read via
    dbstat; the copy leaves the daemon's files alone."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / db_path.name
        for suffix in ("", "-wal"):
            if Path(f"{db_path}{suffix}").exists():
                shutil.copy(f"{db_path}{suffix}", f"{copy}{suffix}")
        conn = sqlite3.connect(copy)
        try:
            return {page: name for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
        finally:
            conn.close()


def _named(pages, owners: dict[int, str]) -> Counter:
    return Counter(owners.get(p, "free/unknown") for p in pages)


def summarise(trace: Trace, owners: dict[str, dict[int, str]], messages: int) -> dict:
    per_message = max(messages, 1)
    out: dict = {"messages": messages, "files": {}, "wal": {}, "checkpoint": {}}
    for path, written in trace.bytes_by_file.most_common():
        out["files"][Path(path).name] = {
            "bytes": written, "bytes_per_msg": round(written / per_message),
            "writes": trace.writes_by_file[path], "fsyncs": trace.fsyncs_by_file[path]}
    for path, wal in trace.wals.items():
        db = path.removesuffix("-wal")
        names = owners.get(db, {})
        kinds = Counter(" + ".join(sorted(set(_named(c, names)))) for c in wal.commits)
        frames_of_kind: Counter = Counter()
        for commit in wal.commits:
            frames_of_kind[" + ".join(sorted(set(_named(commit, names))))] += len(commit)
        out["wal"][Path(path).name] = {
            "frames": len(wal.frames), "commits": len(wal.commits),
            "frames_per_commit": round(len(wal.frames) / max(len(wal.commits), 1), 2),
            "frames_per_msg": round(len(wal.frames) / per_message, 3),
            "frames_by_object": dict(_named(wal.frames, names).most_common()),
            "commit_kinds": {k: {"commits": n, "frames": frames_of_kind[k]}
                             for k, n in kinds.most_common(12)},
        }
    for path, pages in trace.checkpointed.items():
        names = owners.get(path, {})
        by_object: Counter = Counter()
        for page, times in pages.items():
            by_object[names.get(page, "free/unknown")] += times
        out["checkpoint"][Path(path).name] = {
            "pages": sum(pages.values()), "distinct_pages": len(pages),
            "pages_by_object": dict(by_object.most_common())}
    return out


def prefill(data_dir: Path, rows: int) -> None:
    """A store with history: `rows` telemetry messages of 30 boxes already stored (and
    uploaded), so that inserts land in indexes of a realistic size. A fresh store's indexes
    have a handful of pages that every commit shares; a store weeks old spreads each
    commit's random keys over many more. Rows are keyed as the intake keys them
    (records.telemetry_key: the box's time stamp, then a digest)."""
    if not rows:
        return
    db = open_database(data_dir / "gateway.db")
    rng = random.Random(5)
    data = json.dumps({"temperature": -18.2, "power_consumption": 45.2, "pad": "x" * 120})
    start_ms = int(time.time() * 1000) - rows * 1000 // BOXES
    with db.conn:
        db.conn.executemany(
            "INSERT INTO telemetry (device_id, topic, ts_ms, received_at_ms, digest, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ((f"box-{n % BOXES}", f"sensors/box-{n % BOXES}/telemetry", start_ms + n * 33,
              start_ms + n * 33, telemetry_key(start_ms + n * 33, rng.randbytes(32)), data)
             for n in range(rows)))
        # uploaded: the rows' ids are records' seqs, and the uploader's watermark is past them
        last = db.conn.execute("SELECT max(id) FROM telemetry").fetchone()[0]
        advance_seq(db.conn, last)
        db.conn.execute("UPDATE sync_state SET value = ? WHERE key = ?", (str(last), MARK))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def run_phase(name: str, seconds: float, history: int = 0, intake: str = "",
              page_size: int = 0) -> dict:
    telemetry, audio = PHASES[name]
    root = Path(tempfile.mkdtemp(prefix=f"bench-wearbd-{name}-", dir="/var/tmp"))
    precreate_store(root / "data", page_size)
    prefill(root / "data", history)
    receiver, url = start_receiver(root)
    journal, trace_file = root / "journal.log", root / "strace.txt"
    try:
        with LocalMosquitto(root / "broker") as broker, journal.open("wb") as out:
            proc = subprocess.Popen(
                ["strace", "-f", "--seccomp-bpf", "-y", "-xx", "-s", str(FRAME_HEADER),
                 "-e", "trace=pwrite64,write,writev,fsync,fdatasync", "-o", str(trace_file), "--",
                 runtime_python(), "-m", "gateway", "run", "-c",
                 str(daemon_config(root, broker.port, url, intake))],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
            try:
                return _measure(root, proc, broker.port, journal, trace_file, seconds,
                                telemetry, audio)
            finally:
                _stop(proc)
    finally:
        receiver.terminate()
        receiver.wait(30)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the traced daemon (strace, told to stop, would only let go of it)."""
    try:
        os.kill(_daemon_pid(proc.pid), signal.SIGTERM)
    except (OSError, IndexError, ValueError):
        proc.terminate()
    proc.wait(60)


def _daemon_pid(strace_pid: int) -> int:
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    return int(children[0])


def _measure(root, proc, port, journal, trace_file, seconds, telemetry, audio) -> dict:
    wait_subscribed(journal, proc, timeout_s=60)  # slower under strace
    daemon = _daemon_pid(proc.pid)
    start_line = len(trace_file.read_text().splitlines())
    io_before = write_bytes(daemon)
    sent = load_until_settled(root, proc, port, seconds, telemetry, audio)
    elapsed = sent.pop("seconds")
    io_bytes = write_bytes(daemon) - io_before
    lines = trace_file.read_text().splitlines()[start_line:]
    data = root / "data"
    owners = {str(p): page_owners(p) for p in data.glob("*.db")}
    page_sizes = {str(p): page_size_of(p) for p in data.glob("*.db")}
    messages = sent.get("telemetry", 0) + sent.get("audio", 0)
    return {"seconds": round(elapsed, 1), "sent": sent, "proc_io_write_bytes": io_bytes,
            "page_sizes": {Path(p).name: n for p, n in page_sizes.items()},
            **summarise(parse_trace(lines, page_sizes), owners, messages)}


def print_breakdown(name: str, result: dict) -> None:
    seconds, messages = result["seconds"], result["messages"]
    print(f"\n== {name}: {messages} messages in {seconds} s; /proc io write_bytes "
          f"{result['proc_io_write_bytes']:,} B; page sizes {result['page_sizes']}")
    print("  file                         bytes   B/msg  writes fsyncs")
    for file, f in result["files"].items():
        print(f"  {file:<24} {f['bytes']:>11,} {f['bytes_per_msg']:>7,} {f['writes']:>7} "
              f"{f['fsyncs']:>6}")
    for wal, w in result["wal"].items():
        print(f"  {wal}: {w['commits']} commits, {w['frames']} frames, "
              f"{w['frames_per_commit']} frames/commit, {w['frames_per_msg']} frames/msg")
        print("    frames by object: " + ", ".join(f"{k} {v}" for k, v in
                                                  w["frames_by_object"].items()))
        for kind, k in w["commit_kinds"].items():
            print(f"    {k['commits']:>6} commits {k['frames']:>6} frames: {kind}")
    for db, c in result["checkpoint"].items():
        print(f"  checkpoint into {db}: {c['pages']} pages ({c['distinct_pages']} distinct): "
              + ", ".join(f"{k} {v}" for k, v in c["pages_by_object"].items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", action="append", choices=sorted(PHASES),
                        help="phase(s) to run (default: telemetry)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--history", type=int, default=0,
                        help="telemetry rows already in the store (e.g. 500000: ~5 h of 30 boxes)")
    parser.add_argument("--intake", default="", help="extra [intake] config lines, e.g. "
                        "'telemetry_delay_ms = 1000'")
    parser.add_argument("--page-size", type=int, default=0,
                        help="start from an empty store of this page size")
    parser.add_argument("--json", type=Path, help="also write the breakdown here")
    args = parser.parse_args()
    results = {}
    for name in args.phase or ["telemetry"]:
        results[name] = run_phase(name, args.seconds, args.history,
                                  args.intake.replace("\\n", "\n"), args.page_size)
        print_breakdown(name, results[name])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
