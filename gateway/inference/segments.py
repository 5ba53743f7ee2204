"""Welch-style averages over fixed-length segments of a long vibration window.

A window of up to SEGMENTED_AXIS samples per axis is analysed whole, as it always was. A
longer one (at most ~700,000 samples per axis: a 4 MiB message) has its spectra averaged over
segments of SEGMENT samples, Hann-windowed, overlapping by at least half, the first starting
at the window's first sample and the last ending at its last (Welch's method), and its
envelope spectrum likewise; sums over samples go a segment at a time. So what the analysis
holds beside the window is one segment's transforms (a few MB), whatever the window's length,
and the segments' length is smooth (2^17): pocketfft never falls back to Bluestein.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

SEGMENT = 1 << 17  # samples (5.1 s at 25.6 kHz, bins of 0.2 Hz)
SEGMENTED_AXIS = 1 << 18  # samples per axis beyond which a window is analysed in segments


def is_segmented(samples: int) -> bool:
    return samples > SEGMENTED_AXIS


def segment_starts(samples: int, length: int = SEGMENT) -> np.ndarray:
    """First sample of each segment: evenly spread, at most half a segment apart."""
    count = -(-(samples - length) // (length // 2)) + 1
    return np.round(np.linspace(0, samples - length, count)).astype(np.int64)


def segments(row: np.ndarray, length: int = SEGMENT) -> Iterator[np.ndarray]:
    """Overlapping views of `row` (no copies), as segment_starts places them; of a float32
    row (features.window_dtype), float64 copies: every figure is computed in float64."""
    for start in segment_starts(row.size, length):
        yield np.asarray(row[start : start + length], dtype=np.float64)


def hann(length: int = SEGMENT) -> np.ndarray:
    """Periodic Hann window in float64 (the spectra's, features._hann's shape)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def mean_power(row: np.ndarray, window: np.ndarray, keep: np.ndarray | None = None
               ) -> np.ndarray:
    """|rfft(segment * window)|^2 averaged over the segments of `row` (bins `keep` only)."""
    total: np.ndarray | None = None
    count = 0
    for segment in segments(row, window.size):
        spectrum = np.fft.rfft(segment * window)
        power = np.abs(spectrum if keep is None else spectrum[keep]) ** 2
        total = power if total is None else total + power
        count += 1
    assert total is not None  # a segmented row holds at least one segment
    return total / count


def blocks(row: np.ndarray, length: int = SEGMENT) -> Iterator[np.ndarray]:
    """Consecutive views of `row` that do not overlap, for sums over its samples (float64,
    as segments gives them)."""
    for start in range(0, row.size, length):
        yield np.asarray(row[start : start + length], dtype=np.float64)


def mean_of_powers(row: np.ndarray, exponent: int) -> float:
    """mean(row ** exponent), a block at a time (no temporary the size of the row)."""
    return sum(float(np.sum(block**exponent)) for block in blocks(row)) / row.size


def mean_square_sum(rows: np.ndarray) -> float:
    """mean(x^2 + y^2 + z^2) over the samples, a block at a time."""
    return sum(mean_of_powers(row, 2) for row in rows)


def max_abs(row: np.ndarray) -> float:
    return max(float(np.max(np.abs(block))) for block in blocks(row))
