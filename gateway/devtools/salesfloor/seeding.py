"""Deterministic random streams: every draw is keyed by what it is for, never by call order.

A window's sound must depend only on (unit, time, fault, severity, running). Each component
(room, compressor, a fault, a neighbour) takes its own generator keyed by its name, so adding a
fault never shifts the healthy sound's random numbers and severity 0 reproduces the healthy
window exactly.
"""

from __future__ import annotations

import hashlib

import numpy as np


def key64(*parts: object) -> int:
    """A stable 64-bit integer from any printable parts (Python's hash() is salted per run)."""
    text = "\x1f".join(repr(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def uniform(*parts: object) -> float:
    """A stable draw in [0, 1) for a schedule decision (a cycle's length, a day's crowd)."""
    return key64(*parts) / 2.0**64


def stream(*parts: object) -> np.random.Generator:
    """A generator of its own for one component of one window."""
    return np.random.default_rng(key64(*parts))


def time_key(t_s: float) -> int:
    """Windows are keyed at millisecond resolution, so 1e9 + 0.5 and 1e9 + 0.5000001 agree."""
    return int(round(float(t_s) * 1000.0))
