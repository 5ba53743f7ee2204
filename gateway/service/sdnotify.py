"""Tell systemd how the daemon is doing: sd_notify(3) over the $NOTIFY_SOCKET datagram socket.

The protocol is one AF_UNIX datagram of newline-separated KEY=VALUE lines, so this module
speaks it itself rather than depend on a library: `sdnotify` on PyPI has been unmaintained
since 2017 and knows nothing of WATCHDOG_USEC, and `systemd-python` needs libsystemd's
headers and a compiler to build inside a virtualenv (Debian's python3-systemd is not visible
from one).

config.py is the only module that reads the environment, so nothing here does: the daemon
hands over the environ mapping config.py exposes, through `Notifier.from_environ(environ)`
(or `notify_socket_from(environ)` for the address alone). Without $NOTIFY_SOCKET (not run
by systemd, or Type= is not notify) every method is a cheap no-op.

A failed send never reaches the daemon: it is logged once and the daemon carries on; a
missed watchdog ping then shows up as a restart, which is the point of the watchdog.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

from gateway.logs import kv

log = logging.getLogger("gateway.sdnotify")


def notify_socket_from(environ: Mapping[str, str]) -> str | bytes | None:
    """The address to send to: a path, or bytes starting with NUL for an abstract "@name"
    socket; None when systemd gave none or one this module cannot use (e.g. vsock:)."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    if value:
        log.warning("NOTIFY_SOCKET is not a unix socket; not notifying systemd",
                    extra=kv(notify_socket=value))
    return None


def watchdog_usec_from(environ: Mapping[str, str], pid: int) -> int | None:
    """WatchdogSec= in microseconds, when the watchdog is meant for this process."""
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None  # set for a parent (e.g. a wrapper script), not for us
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING/RELOADING to systemd; thread-safe, never raises."""

    def __init__(self, address: str | bytes | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier:
        address = notify_socket_from(environ)
        usec = watchdog_usec_from(environ, os.getpid() if pid is None else pid)
        return cls(address, usec if address is not None else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half of WatchdogSec=, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([_status(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        # Since systemd 253 a reload notification carries the time it began, on CLOCK_MONOTONIC.
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def notify(self, *assignments: str) -> bool:
        """Send one datagram; True if it went out."""
        if self.address is None:
            return False
        message = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    # A full receive queue must not stall the daemon: drop the message.
                    self._sock.setblocking(False)
                self._sock.sendto(message, self.address)
                return True
            except OSError as e:
                self._report(e)
                return False

    def _report(self, error: OSError) -> None:
        if not self._failed:
            self._failed = True
            log.warning("cannot notify systemd; carrying on (logged once)",
                        extra=kv(address=_printable(self.address), error=repr(error)))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _status(text: str) -> str:
    # One line: a newline would start another KEY=VALUE assignment.
    return "STATUS=" + " ".join(str(text).split())


def _printable(address: str | bytes | None) -> str:
    if isinstance(address, bytes):
        return "@" + address[1:].decode(errors="replace")
    return str(address)
