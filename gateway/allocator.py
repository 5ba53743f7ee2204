"""Settings of the C allocator (glibc malloc) for the daemon's process.

glibc gives threads that allocate at the same time arenas of their own, up to
eight per core, and each arena keeps its own high-water mark of freed memory. In
the daemon, MQTT payloads are allocated on paho's thread and freed on the intake
writer's, and SQLite allocates on every thread that runs a statement: with
per-thread arenas the audio drain peaked 2 MB higher at the same rate (measured
with MALLOC_ARENA_MAX, bench/intake.py). The threads take turns on the GIL
anyway, so two arenas cost no throughput (telemetry drain unchanged).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from gateway.logs import kv

log = logging.getLogger("gateway.allocator")
M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas, before the daemon starts its threads; False (and a debug
    line) where the C library is not glibc or refuses."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        applied = libc.mallopt(M_ARENA_MAX, arenas) == 1
    except (OSError, AttributeError, TypeError) as e:  # no libc found, no mallopt (not glibc)
        log.debug("malloc arenas left as they are", extra=kv(error=repr(e)))
        return False
    if not applied:
        log.debug("malloc arenas left as they are", extra=kv(reason="mallopt refused"))
    return applied
