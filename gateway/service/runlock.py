"""One daemon per data dir: an exclusive lock file held for the daemon's lifetime.

The kernel drops the lock when the process dies, even on SIGKILL, so a stale
file never blocks a restart; `status` uses the same lock to tell whether a
daemon is running.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gateway.store.database import StoreError

LOCK_NAME = "gateway.lock"


class AlreadyRunning(Exception):
    """Another daemon holds the data dir."""


class RunLock:
    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # read-only, not ours, not a directory: one line, not a traceback
            raise StoreError(f"cannot use data dir {self.path.parent}: {e.strerror} "
                             f"(check gateway.data_dir and that the service user owns it)"
                             ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another gateway daemon is using {self.path.parent} "
                                 f"(pid {running_pid(self.path.parent)})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def running_pid(data_dir: Path) -> int | None:
    """The pid of the daemon holding `data_dir`, or None when none runs."""
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = path.read_text().strip()
        return int(text) if text.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
