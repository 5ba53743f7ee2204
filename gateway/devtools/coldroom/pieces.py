"""Signal pieces shared by the audio and the vibration: seeded random streams, resonances as
complex gains, a rotor's periodic voice read from a one-revolution table, ringing impacts
through resonances, and noise shaped in the frequency domain (cheap: one FFT each)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

Mode = tuple[float, float, float]  # (centre Hz, quality factor, peak gain)
TABLE = 16384  # samples per revolution in a rotor's table; orders above TABLE/4 are dropped
_CACHE: dict[tuple, np.ndarray] = {}


def rng_for(*parts: object) -> np.random.Generator:
    """A random stream fixed by its parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def modal_gain(freqs: np.ndarray, modes: Sequence[Mode]) -> np.ndarray:
    """Complex gain of parallel band-pass resonances: each peaks at its gain at its centre."""
    freqs = np.asarray(freqs, float)
    gain = np.zeros(freqs.shape, complex)
    for centre, q, peak in modes:
        r = freqs / centre
        band = 1j * r / q
        gain += peak * band / (1.0 - r * r + band)
    return gain


def order_wave(revolutions: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """A periodic function of shaft angle: orders[k] is the complex amplitude of order k
    (orders[0] ignored), read from a one-revolution table at `revolutions` (turns, >= 0;
    nearest entry: the angle error is 1/16384 turn)."""
    keep = min(len(orders), TABLE // 4)
    spectrum = np.zeros(TABLE // 2 + 1, complex)
    spectrum[1:keep] = orders[1:keep] * (TABLE / 2)
    table = np.fft.irfft(spectrum, TABLE)
    where = (np.asarray(revolutions) * TABLE).astype(np.int64) & (TABLE - 1)
    return table[where]


def tone(freq: float, t: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """cos(2 pi f t + phase) in float32 (several times faster, and exact enough for sound)."""
    return np.cos(np.float32(2 * np.pi * freq) * t.astype(np.float32) + np.float32(phase))


def cached(key: tuple, build) -> np.ndarray:
    """A per-unit frequency response for one window shape, built once (bounded)."""
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) > 512:
            _CACHE.clear()
        found = _CACHE[key] = build()
    return found


def impulse_spectrum(n: int, rate: float, times_s: np.ndarray, peaks: np.ndarray,
                     ring_hz: float, q: float) -> np.ndarray:
    """rfft of impulses at `times_s` scaled so each rings with about `peaks` at its maximum
    through a resonance of `ring_hz` and `q` (the caller multiplies by the resonance)."""
    x = np.zeros(n)
    at = np.round(np.asarray(times_s) * rate).astype(int)
    inside = (at >= 0) & (at < n)
    np.add.at(x, at[inside], np.asarray(peaks, float)[inside] * q * rate / (2 * np.pi * ring_hz))
    return np.fft.rfft(x)


def noise_spectrum(rng: np.random.Generator, n: int, rate: float,
                   density: np.ndarray) -> np.ndarray:
    """rfft of Gaussian noise whose one-sided power spectral density is density**2 (units²/Hz),
    density given at np.fft.rfftfreq(n, 1/rate)."""
    bins = n // 2 + 1
    z = rng.standard_normal((2, bins), dtype=np.float32)
    return (z[0] + 1j * z[1]) * (density * (np.sqrt(n * rate) / 2))


def render(spectrum: np.ndarray, n: int) -> np.ndarray:
    return np.fft.irfft(spectrum, n)


def pink(freqs: np.ndarray, corner_hz: float, slope_db_oct: float) -> np.ndarray:
    """A smooth amplitude shape: flat under `corner_hz`, `slope_db_oct` per octave above it."""
    ratio = np.maximum(np.asarray(freqs, float), 1.0) / corner_hz
    return (1.0 + ratio ** 2) ** (slope_db_oct / 20.0 / np.log10(2) / 2)


def band(freqs: np.ndarray, lo_hz: float, hi_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth-like band-pass magnitude (high-pass at lo, low-pass at hi)."""
    f = np.maximum(np.asarray(freqs, float), 1e-3)
    return 1.0 / np.sqrt((1 + (lo_hz / f) ** (2 * order)) * (1 + (f / hi_hz) ** (2 * order)))


def smooth_gains(rng: np.random.Generator, count: int, spread: float) -> np.ndarray:
    """Per-event gains around 1 (log-normal): cycle-to-cycle variation of impacts."""
    return np.exp(spread * rng.standard_normal(count))
