"""Settings of the native libraries in the daemon's process, applied once before it starts
its threads.

glibc malloc: threads that allocate at the same time get arenas of their own, up to eight
per core, each keeping its own high-water mark of freed memory. In the daemon, MQTT payloads
are allocated on paho's thread and freed on the intake writer's, and SQLite allocates on
every thread that runs a statement: with per-thread arenas the audio drain peaked 2 MB
higher at the same rate (bench/intake.py). The threads take turns on the GIL anyway, so two
arenas cost no throughput.

OpenBLAS (numpy's matrix products, e.g. the mel filterbank): it starts a thread per core
and, between calls, its threads spin waiting for the next one. With windows arriving a few
times a second they never stop spinning: one core of this machine was busy all the time
(bench/soak.py). The gateway's matrices are small; one thread computes them as fast.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from threadpoolctl import threadpool_limits

from gateway.logs import kv

log = logging.getLogger("gateway.native")
M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas; False (and a debug line) where the C library is not glibc
    or refuses."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        applied = libc.mallopt(M_ARENA_MAX, arenas) == 1
    except (OSError, AttributeError, TypeError) as e:  # no libc found, no mallopt (not glibc)
        log.debug("malloc arenas left as they are", extra=kv(error=repr(e)))
        return False
    if not applied:
        log.debug("malloc arenas left as they are", extra=kv(reason="mallopt refused"))
    return applied


def single_threaded_blas() -> None:
    """numpy's BLAS computes on the calling thread only, and starts no spinning helpers."""
    threadpool_limits(limits=1, user_api="blas")


def tune_native_libraries() -> None:
    cap_malloc_arenas()
    single_threaded_blas()
