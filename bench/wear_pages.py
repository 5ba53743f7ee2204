"""Which writes cost the card what bench/wear.py counts: page-cache pages dirtied, per file
and per kind of store commit.

bench/wear_breakdown.py adds up the bytes of write calls; /proc/PID/io `write_bytes` (what
bench/wear.py counts, and about what the card receives) counts each 4 KiB page of the page
cache once per time it goes from clean to dirty. The two differ: a file rewritten on the
same few pages without fsync (the queue file) costs far less than its write calls say, and a
small commit after an fsync costs its whole tail page again. This runs the audio or learned
phase of bench/wear.py with the daemon under `strace -f -tt` (its write and fsync calls)
and replays the trace through a model of that accounting: a write counts each page it
dirties that was clean; an fsync or fdatasync cleans the file's pages; the kernel's flusher
cleans a file 30 s after it was first dirtied (dirty_expire_centisecs, looked at every 5 s).
The model's total is printed beside /proc's. Per kind of store commit (the set of tables and
indexes its WAL frames hold, from dbstat), the bytes its frames newly dirtied.

    .venv/bin/python -m bench.wear_pages [--phase audio|learned] [--seconds 40]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench import wear
from bench.runtime import runtime_python
from bench.wear_breakdown import _daemon_pid, page_owners, page_size_of
from gateway.devtools.local_broker import LocalMosquitto

PAGE = 4096  # the kernel's page: what write_bytes counts
FLUSH_AFTER_S, FLUSH_EVERY_S = 30.0, 5.0  # dirty_expire_centisecs, dirty_writeback_centisecs
WAL_HEADER, FRAME_HEADER = 32, 24
_LINE = re.compile(r'^\d+\s+(\d+):(\d+):(\d+\.\d+)\s+(pwrite64|write|writev|fsync|fdatasync)'
                   r'\(\d+<([^>]*)>(.*)\)\s+= (-?\d+)')
_ARGS = re.compile(r'^, "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, \d+(?:, (\d+))?$')


def _unhex(text: str) -> str:
    return bytes.fromhex(text.replace("\\x", "")).decode() if text.startswith("\\x") else text


class PageCache:
    """Dirty 4 KiB pages per file, and the bytes counted each time a clean one is dirtied."""

    def __init__(self):
        self.dirty: dict[str, set[int]] = defaultdict(set)
        self.since: dict[str, float] = {}
        self.counted: Counter = Counter()
        self.next_flush: float | None = None

    def tick(self, t: float) -> None:
        if self.next_flush is None:
            self.next_flush = t + FLUSH_EVERY_S
        while t >= self.next_flush:
            for name in [n for n, s in self.since.items() if self.next_flush - s >= FLUSH_AFTER_S]:
                self.clean(name)
            self.next_flush += FLUSH_EVERY_S

    def clean(self, name: str) -> None:
        self.dirty[name].clear()
        self.since.pop(name, None)

    def write(self, name: str, t: float, offset: int, length: int) -> int:
        new = 0
        for page in range(offset // PAGE, (offset + length - 1) // PAGE + 1):
            if page not in self.dirty[name]:
                self.dirty[name].add(page)
                new += PAGE
        if new:
            self.since.setdefault(name, t)
        self.counted[name] += new
        return new


class StoreCommits:
    """The store WAL's frames grouped into commits, each commit's newly dirtied bytes given to
    its kind (the objects its frames hold)."""

    def __init__(self, owners: dict[int, str]):
        self.owners = owners
        self.pages: list[int] = []
        self.new = 0
        self.header: tuple[int, int] | None = None
        self.commits: Counter = Counter()
        self.bytes: Counter = Counter()

    def write(self, data: str, offset: int, length: int, new: int) -> None:
        self.new += new
        if length == FRAME_HEADER and offset >= WAL_HEADER:
            header = bytes.fromhex(data.replace("\\x", ""))
            self.header = (int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big"))
        elif self.header is not None:
            page, db_size = self.header
            self.pages.append(page)
            self.header = None
            if db_size:  # the commit frame
                kind = " + ".join(sorted({self.owners.get(p, "free") for p in self.pages}))
                self.commits[kind] += 1
                self.bytes[kind] += self.new
                self.pages, self.new = [], 0


def replay(lines: list[str], owners: dict[int, str]) -> tuple[Counter, StoreCommits]:
    cache, store = PageCache(), StoreCommits(owners)
    appended: Counter = Counter()  # write(2) and writev(2) append at the file's end
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        h, m, s, call, path, rest, result = match.groups()
        t = int(h) * 3600 + int(m) * 60 + float(s)
        cache.tick(t)
        path = _unhex(path)
        name = "raw segments" if path.endswith(".seg") else Path(path).name
        if call in ("fsync", "fdatasync"):
            cache.clean(name)
            continue
        length = int(result)
        args = _ARGS.match(rest)
        if length <= 0 or (call != "writev" and not args):
            continue
        data, offset = (args.groups() if args else ("", None))
        if offset is None:
            offset, appended[path] = appended[path], appended[path] + length
        new = cache.write(name, t, int(offset), length)
        if name == "gateway.db-wal" and call == "pwrite64":
            store.write(data, int(offset), length, new)
    return cache.counted, store


def run(name: str, seconds: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bench-wearpages-{name}-", dir="/var/tmp"))
    receiver, url = wear.start_receiver(root)
    journal, trace = root / "journal.log", root / "strace.txt"
    learned = name == "learned"
    sections = f"[inference]\nbaseline_windows = {wear.LEARN_WINDOWS}\n" if learned else ""
    try:
        with LocalMosquitto(root / "broker") as broker, journal.open("wb") as out:
            proc = subprocess.Popen(
                ["strace", "-f", "-tt", "--seccomp-bpf", "-y", "-xx", "-s", str(FRAME_HEADER),
                 "-e", "trace=pwrite64,write,writev,fsync,fdatasync", "-o", str(trace), "--",
                 runtime_python(), "-m", "gateway", "run", "-c",
                 str(wear.daemon_config(root, broker.port, url, sections=sections))],
                cwd=wear.REPO, stdout=out, stderr=subprocess.STDOUT)
            try:
                return _measure(root, proc, broker.port, trace, seconds, learned)
            finally:
                os.kill(_daemon_pid(proc.pid), signal.SIGTERM)
                proc.wait(60)
    finally:
        receiver.terminate()
        receiver.wait(30)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _measure(root: Path, proc, port: int, trace: Path, seconds: float, learned: bool) -> dict:
    wear.wait_subscribed(root / "journal.log", proc, timeout_s=60)
    daemon = _daemon_pid(proc.pid)
    first = 0
    if learned:
        wear.learn(root, proc, port)
        time.sleep(wear.SETTLE_AFTER_START_S)
        first = wear.BOXES * wear.LEARN_WINDOWS
    start = len(trace.read_text().splitlines())
    io_before = wear.write_bytes(daemon)
    boxes = wear.Publisher(port)
    try:
        sent = wear.paced_load(boxes, seconds, False, True, first=first)
    finally:
        boxes.close()
    wear.settled_results(root / "data", proc, first + sent["audio"])
    io_bytes = wear.write_bytes(daemon) - io_before
    lines = trace.read_text().splitlines()[start:]
    store = root / "data" / "gateway.db"
    counted, commits = replay(lines, page_owners(store))
    return {"windows": sent["audio"], "proc_io_write_bytes": io_bytes, "files": counted,
            "commits": commits, "page_sizes": {p.name: page_size_of(p)
                                               for p in (root / "data").glob("*.db")}}


def print_pages(name: str, result: dict) -> None:
    w = result["windows"]
    print(f"== {name}: {w} windows; /proc write_bytes {result['proc_io_write_bytes'] / w:,.0f} "
          f"B per window, modelled {sum(result['files'].values()) / w:,.0f}; page sizes "
          f"{result['page_sizes']}")
    for file, counted in result["files"].most_common():
        print(f"  {file:<22} {counted / w:>9,.0f} B per window")
    commits = result["commits"]
    print("  the store's WAL by kind of commit: commits, B per window")
    for kind, counted in commits.bytes.most_common():
        print(f"    {commits.commits[kind]:>5} {counted / w:>8,.0f}  {kind}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("audio", "learned"), default="audio")
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    print_pages(args.phase, run(args.phase, args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
