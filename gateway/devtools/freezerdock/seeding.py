"""Deterministic randomness for the freezerdock simulator.

Every random draw is tied to what it is for, so that a window is a pure function of its
arguments and a fault never shares a stream with the healthy sound it is added to:

* ``rng`` gives a numpy Generator seeded by blake2b of (seed, device_id, purpose, millisecond).
  Python's ``hash()`` is salted per process, so it is never used.
* ``hash_uniform`` and ``smooth`` are vectorised splitmix64 hashes keyed the same way; the
  schedule and the weather use them because they must answer for thousands of times at once
  (a device week) without building a Generator per time.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _digest(seed: int, device_id: str, purpose: str, ms: int, size: int) -> int:
    # A separator that cannot appear in a device id keeps ("a", "b|c") and ("a|b", "c") apart.
    text = f"{int(seed)}\x1f{device_id}\x1f{purpose}\x1f{int(ms)}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=size).digest(), "little")


def rng(seed: int, device_id: str, purpose: str, ms: int = 0) -> np.random.Generator:
    """A Generator for one purpose at one millisecond (a window start, an event slot...)."""
    return np.random.Generator(np.random.PCG64(_digest(seed, device_id, purpose, ms, 16)))


def key64(seed: int, device_id: str, purpose: str) -> int:
    """A 64-bit key for the vectorised hashes below."""
    return _digest(seed, device_id, purpose, 0, 8)


def hash_uniform(key: int, index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values, one per integer in ``index``, fixed by ``key`` (splitmix64)."""
    x = np.asarray(index, dtype=np.int64).astype(np.uint64) * _GOLDEN + np.uint64(key)
    # uint64 array arithmetic wraps silently, which is exactly what the mixer wants.
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def smooth(key: int, x: np.ndarray) -> np.ndarray:
    """Value noise in [-1, 1]: hashed values at integer x, cosine-interpolated between them.

    Weather, load drift and fouling wander smoothly rather than jumping, and the answer for a
    time never depends on which other times were asked about.
    """
    x = np.asarray(x, dtype=np.float64)
    base = np.floor(x)
    i = base.astype(np.int64)
    a = hash_uniform(key, i)
    b = hash_uniform(key, i + 1)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - base))
    return 2.0 * (a + (b - a) * w) - 1.0
