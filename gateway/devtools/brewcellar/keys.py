"""Stable seeds: every random draw in the site is keyed by what it describes, never by call order.

Python's hash() is salted per process, so blake2b over the repr of the key parts is used; the
same (device, seed, purpose, time) gives the same numbers in every process and on every machine.
"""

from __future__ import annotations

import hashlib

import numpy as np

_SEP = "\x1f"


def stable_seed(*parts: object) -> int:
    """A 64-bit integer fixed by the key parts (strings, ints, floats, tuples)."""
    text = _SEP.join(repr(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def rng_for(*parts: object) -> np.random.Generator:
    """A generator of its own for one purpose, so adding a draw elsewhere changes nothing here."""
    return np.random.default_rng(stable_seed(*parts))


def unit_interval(*parts: object) -> float:
    """A number in [0, 1) fixed by the key parts, for cheap yes/no and phase decisions."""
    return stable_seed(*parts) / 2.0**64


def time_key(t_s: float) -> int:
    """Windows are keyed by their start in whole milliseconds, the resolution of `ts`."""
    return int(round(float(t_s) * 1000.0))
