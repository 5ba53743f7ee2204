"""Signal pieces shared by the rack-room's sources: seeded generators, noise shaped in the
frequency domain, resonant modes, ringing impulse trains and harmonic series."""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(*keys: object) -> np.random.Generator:
    """A generator fixed by its keys (strings hashed stably, numbers taken as they are)."""
    words = [zlib.crc32(str(k).encode()) if not isinstance(k, int) else k & 0xFFFFFFFF
             for k in keys]
    return np.random.default_rng(words)


_FREQS: dict = {}


def freqs(n: int, rate: float) -> np.ndarray:
    """The rfft bins' frequencies (kept: every window of a rate asks for the same ones)."""
    if (n, rate) not in _FREQS:
        _FREQS[(n, rate)] = np.fft.rfftfreq(n, 1.0 / rate)
    return _FREQS[(n, rate)]


def cached(store: dict, key: tuple, make):
    """store[key], made once by make(): a unit's fixed spectral shapes."""
    if key not in store:
        store[key] = make()
    return store[key]


def modes_response(f: np.ndarray, modes: list[tuple[float, float, float]]) -> np.ndarray:
    """|H(f)| of a sum of resonances (centre Hz, Q, gain): what a housing or a plate does to
    broadband excitation."""
    out = np.zeros_like(f)
    for centre, q, gain in modes:
        out += gain / np.sqrt(1.0 + (q * (f / centre - centre / np.maximum(f, 1.0))) ** 2)
    return out


def shaped_noise(rng: np.random.Generator, n: int, rate: float, shape: np.ndarray) -> np.ndarray:
    """Gaussian noise with amplitude spectrum `shape` (one value per rfft bin), unit RMS when
    the shape is flat at one: drawn as the spectrum of white noise directly."""
    bins = n // 2 + 1
    white = rng.standard_normal((2, bins))
    spectrum = (white[0] + 1j * white[1]) * np.sqrt(n / 2) * shape
    return np.fft.irfft(spectrum, n)


def band_shape(f: np.ndarray, lo: float, hi: float, slope_db_oct: float = 0.0,
               ref: float = 1000.0) -> np.ndarray:
    """A band-pass with soft (2nd-order) edges and a tilt in dB per octave about `ref`."""
    tilt = (np.maximum(f, 1.0) / ref) ** (slope_db_oct / 6.02)
    edge_lo = 1.0 / (1.0 + (lo / np.maximum(f, 1e-3)) ** 4)
    edge_hi = 1.0 / (1.0 + (f / hi) ** 4)
    return tilt * edge_lo * edge_hi


def ringing(n: int, rate: float, times_s: np.ndarray, amps: np.ndarray,
            kernel: np.ndarray) -> np.ndarray:
    """Impulses at `times_s` with `amps`, each ringing as `kernel` (rfft-domain response of
    one impulse, length n // 2 + 1): impacts, valve closures, knocks."""
    train = np.zeros(n)
    idx = np.round(np.asarray(times_s) * rate).astype(int)
    keep = (idx >= 0) & (idx < n)
    np.add.at(train, idx[keep], np.asarray(amps)[keep])
    return np.fft.irfft(np.fft.rfft(train) * kernel, n)


def decaying_mode(f: np.ndarray, centre: float, damping: float, rate: float) -> np.ndarray:
    """The response (per rfft bin) of a single-degree resonance at `centre` Hz with damping
    ratio `damping`, scaled so that a one-sample impulse of 1 rings with a peak near 1."""
    s, w0 = 2j * np.pi * f, 2 * np.pi * centre
    return s * rate / (s ** 2 + 2 * damping * w0 * s + w0 ** 2)


def harmonic_series(t: np.ndarray, base_hz: float, amps: np.ndarray,
                    phases: np.ndarray) -> np.ndarray:
    """sum_k amps[k] sin(2 pi (k+1) f t + phases[k]): one period tabulated by an inverse FFT,
    read at the shaft's phase (linear interpolation on >= 16 points per top harmonic)."""
    count = len(amps)
    size = max(1024, 1 << int(np.ceil(np.log2(16 * max(count, 1)))))
    spectrum = np.zeros(size // 2 + 1, dtype=complex)
    spectrum[1:count + 1] = np.asarray(amps) * np.exp(1j * (np.asarray(phases) - np.pi / 2))
    table = np.fft.irfft(spectrum, size) * size / 2
    position = (base_hz * t % 1.0) * size
    return np.interp(position, np.arange(size + 1), np.append(table, table[0]))


def tones(t: np.ndarray, hz: list[float], amps: list[float], phases: list[float]) -> np.ndarray:
    out = np.zeros_like(t)
    for f, a, p in zip(hz, amps, phases, strict=True):
        out += a * np.sin(2 * np.pi * f * t + p)
    return out


def upsample(x: np.ndarray, n: int) -> np.ndarray:
    """Band-limited interpolation of x to n samples (n a multiple of len(x))."""
    spectrum = np.fft.rfft(x)
    out = np.zeros(n // 2 + 1, dtype=complex)
    out[: len(spectrum)] = spectrum
    return np.fft.irfft(out, n) * (n / len(x))


def low_rate(rate: int, floor: int = 7000, most: int = 8) -> tuple[int, int]:
    """(factor, low rate): the largest factor <= `most` dividing rate that keeps >= `floor`
    Hz, for tonal parts that need nothing above floor / 2."""
    factor = max(d for d in range(1, most + 1) if rate % d == 0 and rate / d >= floor)
    return factor, rate // factor


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))
