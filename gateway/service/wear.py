"""What the daemon writes to storage, and the card life that projects (issue 14).

SD cards die of writes. The daemon measures its own: the `write_bytes` of its process in
/proc/self/io (bytes it caused to be sent to storage, every thread counted), sampled each
time it records its state. The rate is taken over a rolling day, so a site's daily rhythm
averages out; until the daemon has run a day it is the rate since the first sample and is
flagged as warming up. The first sample is taken once start-up is over, so the one-off
writes of opening the store are not projected onto every day.

The projection is bench/wear.py's (docs/performance.md, "Wear"): a card of N bytes enduring
P full writes lasts N × P / (bytes per day) days, ignoring the card's own write
amplification. Without /proc (or with it unreadable) the figures are unknown, never made up.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from gateway.config import StorageSection
from gateway.store.daemon_state import CardSizeFrom, CardWear

PROC_IO = Path("/proc/self/io")
DAY_S = 86_400.0
YEAR_DAYS = 365.0  # as bench/wear.py counts
MIN_SPAN_S = 10.0  # one state interval: less than this between two samples is no rate
STEP_S = 300.0  # samples kept this far apart: a rolling day is under 300 of them
LIFE_WARN_YEARS = 2.0  # doctor and status warn below this


class Rate(NamedTuple):
    written_bytes: int  # the process's write_bytes now
    bytes_per_day: float | None  # None until MIN_SPAN_S has passed
    span_s: float  # how long the rate was measured over
    warming_up: bool  # span_s is short of the full window


def read_write_bytes(path: Path = PROC_IO) -> int | None:
    """The process's write_bytes, or None where /proc does not say (not Linux, hidepid, a
    kernel without task I/O accounting)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "write_bytes":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def projected_years(bytes_per_day: float, card_bytes: int, endurance_writes: int) -> float | None:
    """Years until the card has taken `endurance_writes` full writes at this rate; None when
    nothing is written (no end in sight)."""
    if bytes_per_day <= 0:
        return None
    return card_bytes * endurance_writes / bytes_per_day / YEAR_DAYS


def card_bytes(storage: StorageSection, data_dir: Path) -> tuple[int | None, CardSizeFrom]:
    """The card's size and where it came from: storage.card_gb, else the size of the file
    system holding the data dir (the card, on a Pi with one partition for data)."""
    if storage.card_gb > 0:
        return int(storage.card_gb * 1e9), "storage.card_gb"
    try:
        return shutil.disk_usage(data_dir).total, "file system"
    except OSError:
        return None, "unknown"


def span_text(seconds: float) -> str:
    """How long a rate was measured over, for a person: 40 s, 12 min, 5.5 h, 1.0 days."""
    for unit, size in (("days", DAY_S), ("h", 3600.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


class WriteMeter:
    """The write rate over a rolling window, from samples of a growing byte count."""

    def __init__(self, read: Callable[[], int | None] = read_write_bytes,
                 clock: Callable[[], float] = time.monotonic, window_s: float = DAY_S,
                 step_s: float = STEP_S):
        self._read, self._clock = read, clock
        self.window_s, self.step_s = window_s, step_s
        self._kept: deque[tuple[float, int]] = deque()

    def sample(self) -> Rate | None:
        """Take a sample; None when the byte count cannot be read."""
        written, now = self._read(), self._clock()
        if written is None:
            return None
        if not self._kept or now - self._kept[-1][0] >= self.step_s:
            self._kept.append((now, written))
        # Keep the newest sample that is at least a window old, as the start of the window.
        while len(self._kept) > 1 and now - self._kept[1][0] >= self.window_s:
            self._kept.popleft()
        start, written_then = self._kept[0]
        span = now - start
        per_day = (written - written_then) / span * DAY_S if span >= MIN_SPAN_S else None
        return Rate(written, per_day, span, span < self.window_s)


class CardWearMeter:
    """The daemon's figures for its state row: its write rate and the card life it projects
    on the configured card."""

    def __init__(self, storage: StorageSection, data_dir: Path, meter: WriteMeter | None = None):
        self.storage, self.data_dir = storage, data_dir
        self.meter = meter or WriteMeter()

    def reading(self) -> CardWear:
        size, size_from = card_bytes(self.storage, self.data_dir)
        endurance = self.storage.card_endurance_writes
        wear = CardWear(written_bytes=None, bytes_per_day=None, measured_s=0.0,
                        warming_up=True, card_bytes=size, card_size_from=size_from,
                        endurance_writes=endurance, card_years=None, note="")
        rate = self.meter.sample()
        if rate is None:
            wear["note"] = f"unknown: {PROC_IO} does not give this process's write_bytes"
            return wear
        wear["written_bytes"], wear["bytes_per_day"] = rate.written_bytes, rate.bytes_per_day
        wear["measured_s"], wear["warming_up"] = round(rate.span_s, 1), rate.warming_up
        if rate.bytes_per_day is None:
            wear["note"] = f"measuring: no rate before {MIN_SPAN_S:g} s of samples"
        elif size is None:
            wear["note"] = "card size unknown: set storage.card_gb"
        elif rate.bytes_per_day <= 0:
            wear["note"] = "nothing written to storage over the window"
        else:
            wear["card_years"] = projected_years(rate.bytes_per_day, size, endurance)
        return wear
