"""Vectors of floats kept as BLOBs: little-endian float64, exact both ways.

A device's drifting centre (device_states.centre) is written with every scored window: as
JSON it was ~1.1 KB, more than a 1 KiB page holds (an overflow page more per write), and
parsed again on every read; as float64 it is 8 bytes a feature and read without parsing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FLOAT64 = np.dtype("<f8")


def float64_blob(values: Sequence[float]) -> bytes:
    return np.asarray(values, FLOAT64).tobytes()


def blob_floats(blob: bytes) -> tuple[float, ...]:
    return tuple(np.frombuffer(blob, FLOAT64).tolist())
