"""Signal building blocks, all vectorised: shaped noise, resonances, wavetables, struck modes.

Periodic machine sound (a compressor revolution, a fan's blade pass) is built once per unit as a
band-limited wavetable and read along the shaft's phase, so any speed costs one interpolation.
Broadband noise is drawn directly as a spectrum and shaped there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def rfft_freqs(n: int, rate: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    freqs.flags.writeable = False
    return freqs


def white_spectrum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Spectrum of unit-variance white noise of n samples (irfft gives the noise)."""
    bins = n // 2 + 1
    # float32 draws are twice as fast and far finer than the PCM16 grid the sound ends on.
    spec = rng.standard_normal(2 * bins, dtype=np.float32).view(np.complex64) * np.sqrt(n / 2.0)
    spec[0] = 0.0
    return spec


def shape_rms(shape: np.ndarray) -> float:
    """RMS of unit white noise after shaping by this magnitude (never exactly zero)."""
    return float(np.sqrt(np.mean(np.abs(shape) ** 2)) + 1e-30)


def shaped_noise(rng: np.random.Generator, n: int, shape: np.ndarray, rms: float) -> np.ndarray:
    """Noise with the given spectral shape and RMS."""
    return np.fft.irfft(white_spectrum(rng, n) * (shape * (rms / shape_rms(shape))), n)


def band(freqs: np.ndarray, lo: float, hi: float, order: int = 2) -> np.ndarray:
    """Butterworth-like band-pass magnitude, lo = 0 or hi = inf for one-sided."""
    f = np.maximum(freqs, 1e-3)
    gain = np.ones_like(f)
    if lo > 0:
        gain /= np.sqrt(1.0 + (lo / f) ** (2 * order))
    if np.isfinite(hi):
        gain /= np.sqrt(1.0 + (f / hi) ** (2 * order))
    return gain


def resonance(freqs: np.ndarray, f0: float, q: float) -> np.ndarray:
    """Complex response of a second-order resonance, unity at f0."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
    return 1.0 / (1.0 + 1j * q * (f / f0 - f0 / f))


def harmonic_table(coeffs: np.ndarray, length: int) -> np.ndarray:
    """One period sampled at `length` points (+1 wrap point) from complex harmonic amplitudes.

    coeffs[k] is the complex amplitude of harmonic k (k = 0 is ignored): a_k cos(2 pi k x + arg).
    """
    spec = np.zeros(length // 2 + 1, dtype=np.complex128)
    k = min(len(coeffs), len(spec) - 1)
    spec[1:k] = coeffs[1:k] * (length / 2.0)
    table = np.fft.irfft(spec, length)
    return np.append(table, table[0])


def table_index(phase_cycles: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer index and fraction into a table of `length` points for a phase in cycles."""
    pos = (phase_cycles - np.floor(phase_cycles)) * length
    idx = pos.astype(np.intp)
    np.minimum(idx, length - 1, out=idx)
    return idx, pos - idx


def lookup(table: np.ndarray, index: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Linear interpolation into a table (last axis) at a precomputed index."""
    idx, frac = index
    lo = table[..., idx]
    return lo + frac * (table[..., idx + 1] - lo)


def struck_modes(rate: float, freqs: tuple[float, ...], decay_s: tuple[float, ...],
                 amps: tuple[float, ...], duration_s: float) -> np.ndarray:
    """A struck object: exponentially decaying sine modes (modes above Nyquist are dropped)."""
    t = np.arange(int(duration_s * rate)) / rate
    out = np.zeros_like(t)
    for f, tau, a in zip(freqs, decay_s, amps, strict=True):
        if f < 0.45 * rate:
            out += a * np.exp(-t / tau) * np.sin(2.0 * np.pi * f * t)
    return out


def add_at(out: np.ndarray, start: int, segment: np.ndarray) -> None:
    """Add a segment into out starting at sample `start`, cropping at both edges."""
    n = out.shape[-1]
    lo, hi = max(start, 0), min(start + segment.shape[-1], n)
    if lo < hi:
        out[..., lo:hi] += segment[..., lo - start:hi - start]


def poisson_offsets(rng: np.random.Generator, per_s: float, seconds: float) -> np.ndarray:
    """Start times (s from the window start) of random events, including ones that began
    up to half a second before the window so their tails reach into it."""
    count = rng.poisson(per_s * (seconds + 0.5))
    return np.sort(rng.uniform(-0.5, seconds, count))


def smooth_random(rng: np.random.Generator, n: int, points: int) -> np.ndarray:
    """A slowly varying positive random gain around 1 (points control values over the window)."""
    ctrl = np.exp(0.35 * rng.standard_normal(points))
    return np.interp(np.linspace(0.0, points - 1.0, n), np.arange(points), ctrl)


def cycles(hz: float, t_s: float, t: np.ndarray) -> np.ndarray:
    """Phase in cycles of something at `hz` since the epoch, kept small so sin() stays fast
    and exact (the epoch is 1.7e9 s away)."""
    return (hz * t_s) % 1.0 + hz * t


def db(value: float) -> float:
    """Amplitude ratio of a level in decibels."""
    return float(10.0 ** (value / 20.0))
