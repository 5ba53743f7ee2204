"""Stable keys and random streams.

Every random part of a window (the compressor's gas noise, a neighbour, a gull, a fault's
impacts) draws from its own numpy Generator, seeded from the part's name, the device, the
seed and a time key. A fault therefore never disturbs the draws of the healthy parts, and a
window is the same on every run, on every machine (Python's ``hash()`` is salted per process,
so a blake2b digest is used instead).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_int(*parts: object) -> int:
    """A 64-bit integer from the parts' text, identical across processes and platforms."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def stream(part: str, *key: object) -> np.random.Generator:
    """The random stream of one part of a window, e.g. stream("gas", device, seed, tkey)."""
    return np.random.default_rng(stable_int(part, *key))


def uniform(*key: object) -> float:
    """One deterministic draw in [0, 1), for the many slow per-unit or per-slot choices."""
    return (stable_int(*key) >> 11) / float(1 << 53)


def time_key(t_s: float) -> int:
    """Milliseconds: windows starting less than 0.5 ms apart share their random draws."""
    return int(round(t_s * 1000.0))


def smooth_noise(t_s: float, period_s: float, *key: object) -> float:
    """Value noise in [-1, 1]: random knots every period_s, cosine-interpolated between.

    Used for slow weather, activity and drift so they wander without jumps between windows.
    """
    pos = t_s / period_s
    i = int(np.floor(pos))
    frac = pos - i
    a = 2.0 * uniform(*key, i) - 1.0
    b = 2.0 * uniform(*key, i + 1) - 1.0
    w = 0.5 - 0.5 * np.cos(np.pi * frac)
    return float(a + (b - a) * w)
