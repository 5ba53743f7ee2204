"""The disk guard: free space as the store's writers see it, and a reserve to fall back on.

On a full card every SQLite write fails, the clean-up's deletes included (they write to the
WAL first): retention could never make room, `raw_refused` was never set and all intake
stalled, telemetry too (issue 12.5). So:

- the data dir holds a reserve, a pre-allocated file (`RESERVE_NAME`), counted as free space
  by retention and status. When a write fails for lack of space the reserve is deleted, and
  the clean-up has room to run; it is made again once there is room for it;
- the intake writer asks `short()` before storing a window: below the floor it turns windows
  away itself (acknowledged, counted `disk_full`) without waiting for the next clean-up, so
  the little room left goes to telemetry.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from gateway.logs import kv

log = logging.getLogger("gateway.disk")

RESERVE_NAME = "reserve.bin"
RESERVE_MAX_BYTES = 4 * 1024 * 1024  # a clean-up chunk writes well under 1 MB of WAL
CHECK_EVERY_S = 0.5  # statvfs is cheap, but a window flood must not call it per message
FULL_HOLD_S = 5.0  # after a write failed for lack of space, windows wait at least this long
SQLITE_FULL = 13


def fs_free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on path's file system."""
    return shutil.disk_usage(path).free


def out_of_space(error: BaseException) -> bool:
    """A write that failed because the file system is full (SQLite's or the OS's word)."""
    if isinstance(error, sqlite3.Error):
        return (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF == SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def reserve_bytes(data_dir: Path) -> int:
    """Size of the reserve file in data_dir (0 when it is not there)."""
    try:
        return (data_dir / RESERVE_NAME).stat().st_size
    except OSError:
        return 0


class DiskGuard:
    """Shared by retention (which keeps the reserve) and the intake writer (which asks)."""

    def __init__(self, data_dir: Path, floor_bytes: int, reserve_max: int = RESERVE_MAX_BYTES,
                 *, free_bytes: Callable[[Path], int] = fs_free_bytes,
                 clock: Callable[[], float] = time.monotonic):
        self.data_dir, self.floor = data_dir, floor_bytes
        self.reserve_size = reserve_max
        self.path = data_dir / RESERVE_NAME
        self._free_bytes, self._clock = free_bytes, clock
        self._checked_at, self._short = -CHECK_EVERY_S, False
        self._full_until = 0.0

    @property
    def held(self) -> int:
        return reserve_bytes(self.data_dir)

    def free(self) -> int:
        """Free bytes on the file system, the reserve counted as free."""
        return self._free_bytes(self.data_dir) + self.held

    def short(self) -> bool:
        """True while windows should be turned away: the file system is below the floor
        (reserve not counted: it is for the clean-up), or a write failed lately for lack of
        space. From any thread; looks at the file system at most every CHECK_EVERY_S."""
        now = self._clock()
        if now < self._full_until:
            return True
        if now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._short = self._free_bytes(self.data_dir) < self.floor
        return self._short

    def full(self, who: str) -> None:
        """A write failed for lack of space: turn windows away for a while, give the reserve
        back to the file system so that the clean-up (and telemetry) can write."""
        self._full_until = self._clock() + FULL_HOLD_S
        released = self.release()
        if released:
            log.warning("disk full: reserve released so that the clean-up can run",
                        extra=kv(by=who, released_mb=round(released / 2**20, 1)))

    def release(self) -> int:
        size = self.held
        with suppress(FileNotFoundError):
            self.path.unlink()
        return size

    def replenish(self, spare_bytes: int) -> bool:
        """Make the reserve again when the file system has spare_bytes more than it free."""
        if self.held >= self.reserve_size:
            return True
        if self._free_bytes(self.data_dir) < self.reserve_size + spare_bytes:
            return False
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, self.reserve_size)  # real blocks, not a hole
            os.replace(tmp, self.path)
        except OSError as e:
            with suppress(OSError):
                tmp.unlink()
            log.debug("reserve not made", extra=kv(error=e.strerror))
            return False
        return True
