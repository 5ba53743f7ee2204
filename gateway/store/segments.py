"""Raw window payloads in append-only segment files beside the store (`<store dir>/raw/`).

A window's raw bytes are the bulk of what the gateway writes. Kept as a BLOB in SQLite they
are written twice (the WAL frame, then the checkpoint's copy into the file); here they are
written once: appended to the current segment and fsync'd before the intake commit that
acknowledges the window, and the row holds where they are (segment, offset, length) and
their CRC-32 (docs/architecture.md, "Raw segments").

Order and crashes: bytes first (file fsync'd, and its directory when the file is new), then
the FULL commit of the rows. A crash in between leaves bytes no row points at (an orphan
tail): harmless, the writer never appends to a segment it did not create in this run, and
the file goes when no row references it any more. A row never points at missing bytes.

Segments are numbered in the order they are made; the writer only appends to the newest,
so retention may delete any older one that no row references (`unreferenced_deletable`).
A segment is rolled when it reaches `roll_bytes` or is `roll_s` old, so that raw kept
longer (anomalies) pins little; retention moves such raw out of a mostly dead segment.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import zlib
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import NamedTuple

RAW_DIR = "raw"
ROLL_BYTES = 8 * 1024 * 1024  # about 45 s of raw at the sizing load (6 windows/s of 31 KiB)
ROLL_S = 3600.0
SEGMENTS_PER_BUDGET = 64  # a small budget gets smaller segments: one pins 1/64 of it at most


def roll_bytes_for(budget_bytes: int) -> int:
    """The segment size for a data dir of this disk budget."""
    return max(64 * 1024, min(ROLL_BYTES, budget_bytes // SEGMENTS_PER_BUDGET))
_NAME = re.compile(r"^(\d{16})\.seg$")


class RawRef(NamedTuple):
    """Where a window's raw bytes are: the row's raw_segment, raw_offset, raw_length, raw_crc."""

    segment: int
    offset: int
    length: int
    crc: int


class RawUnreadable(Exception):
    """A window's raw bytes are missing or do not match their checksum: that window cannot
    be analysed (a deterministic failure of that one window)."""


def raw_dir_of(store_path: Path) -> Path:
    return store_path.parent / RAW_DIR


def segment_path(raw_dir: Path, segment: int) -> Path:
    return raw_dir / f"{segment:016d}.seg"


def list_segments(raw_dir: Path) -> list[int]:
    """The segments in the directory, oldest first (none when it is not there)."""
    try:
        names = os.listdir(raw_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(_NAME.match, names) if m)


def segment_bytes(raw_dir: Path) -> int:
    total = 0
    for segment in list_segments(raw_dir):
        with suppress(FileNotFoundError):
            total += segment_path(raw_dir, segment).stat().st_size
    return total


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """Appends raw payloads; owned by the intake writer's thread."""

    def __init__(self, raw_dir: Path, roll_bytes: int = ROLL_BYTES, roll_s: float = ROLL_S,
                 clock=time.monotonic):
        self.raw_dir, self.roll_bytes, self.roll_s, self._clock = raw_dir, roll_bytes, roll_s, clock
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._opened_at = 0.0

    def append(self, payloads: Sequence[bytes]) -> list[RawRef]:
        """Write the payloads, one after the other, and make them durable; their references
        in the same order. Raises OSError (a full disk: ENOSPC); the next call starts a new
        segment, the bytes written meanwhile being an orphan tail."""
        if not payloads:
            return []
        total = sum(len(p) for p in payloads)
        full = self._size > 0 and self._size + total > self.roll_bytes
        if self._fd is None or full or self._clock() - self._opened_at > self.roll_s:
            self._roll()
        assert self._fd is not None
        try:
            refs, offset = [], self._size
            for payload in payloads:
                refs.append(RawRef(self._segment, offset, len(payload),
                                   zlib.crc32(payload)))
                offset += len(payload)
            _write_all(self._fd, payloads)
            os.fdatasync(self._fd)
        except BaseException:
            self.close()
            raise
        self._size = offset
        return refs

    def _roll(self) -> None:
        self.close()
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        existing = list_segments(self.raw_dir)
        # Numbers only grow (the clock gives them room to, after segments were deleted).
        segment = max(existing[-1] + 1 if existing else 1, time.time_ns() // 1000)
        fd = os.open(segment_path(self.raw_dir, segment),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        try:
            _fsync_dir(self.raw_dir)  # the new name must survive a power cut with the bytes
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._segment, self._size = fd, segment, 0
        self._opened_at = self._clock()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, payloads: Sequence[bytes]) -> None:
    pending = [memoryview(p) for p in payloads if len(p)]
    while pending:
        written = os.writev(fd, pending[:512])  # IOV_MAX is 1024 on Linux
        while written and pending:
            head = pending[0]
            if written >= len(head):
                written -= len(head)
                pending.pop(0)
            else:
                pending[0] = head[written:]
                written = 0


def read_raw(raw_dir: Path, ref: RawRef) -> bytes:
    """The raw bytes of one reference, checked against its CRC-32."""
    try:
        with open(segment_path(raw_dir, ref.segment), "rb") as f:
            data = os.pread(f.fileno(), ref.length, ref.offset)
    except FileNotFoundError:
        raise RawUnreadable(f"raw segment {ref.segment} is missing") from None
    if len(data) != ref.length:
        raise RawUnreadable(f"raw segment {ref.segment} is cut short: {len(data)} of "
                            f"{ref.length} bytes at offset {ref.offset}")
    if zlib.crc32(data) != ref.crc:
        raise RawUnreadable(f"raw bytes in segment {ref.segment} at offset {ref.offset} do "
                            "not match their checksum")
    return data


# The columns raw_payload reads, in its order.
RAW_COLUMNS = "payload, raw_segment, raw_offset, raw_length, raw_crc"


def raw_payload(raw_dir: Path, row: Sequence) -> bytes | None:
    """A window's raw bytes from its RAW_COLUMNS: the BLOB of a row stored before migration
    0010 (or moved back into the store by retention), else its segment's bytes; None when
    retention deleted them. Raises RawUnreadable. Every reader of raw data comes here."""
    payload, segment, offset, length, crc = row
    if payload is not None:
        return payload
    if segment is None:
        return None
    return read_raw(raw_dir, RawRef(segment, offset, length, crc))


def window_raw(conn: sqlite3.Connection, raw_dir: Path, window_id: int,
               row: Sequence) -> bytes | None:
    """raw_payload of a window whose RAW_COLUMNS were just read as row. If its bytes cannot
    be read, the row is read once more: retention may have moved them (store/raw_upkeep.py)
    in between; unreadable where the row now says, the window's raw is RawUnreadable."""
    try:
        return raw_payload(raw_dir, row)
    except RawUnreadable:
        again = conn.execute(f"SELECT {RAW_COLUMNS} FROM windows WHERE id = ?",
                             (window_id,)).fetchone()
        if again is None or tuple(again) == tuple(row):
            raise
        return raw_payload(raw_dir, again)


def delete_segment(raw_dir: Path, segment: int) -> int:
    """Delete one segment file; its size (0 if it was gone already)."""
    path = segment_path(raw_dir, segment)
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size
