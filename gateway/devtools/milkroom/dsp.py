"""Small signal-building blocks shared by the audio and vibration synthesis.

Speed matters (tens of thousands of windows per benchmark), so periodic sounds are read
from one-period tables by phase instead of summing sines, stationary noise is shaped in
the frequency domain, and impacts are an impulse train filtered by resonances in one FFT.
"""

from __future__ import annotations

import numpy as np

TABLE = 2048  # samples per period of a wave table; harmonics up to 1023 fit


def harmonic_table(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k |a_k| cos(2 pi k x + arg a_k), k = 1.., with a wrap sample."""
    spec = np.zeros(TABLE // 2 + 1, complex)
    k = min(amps.size, TABLE // 2 - 1)
    spec[1 : k + 1] = amps[:k] * (TABLE / 2.0)
    table = np.fft.irfft(spec, TABLE)
    return np.append(table, table[0])


def lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Read a periodic table at phase `cycles` (in periods), with linear interpolation.

    The hottest function of the generator, so it works in place on one scratch array.
    """
    size = table.size - 1
    x = cycles * size
    np.mod(x, size, out=x)
    i = x.astype(np.intp)
    np.minimum(i, size - 1, out=i)  # float rounding may land exactly on `size`
    x -= i
    x *= np.diff(table)[i]
    x += table[i]
    return x


def table_rms(table: np.ndarray) -> float:
    return float(np.sqrt(np.mean(table[:-1] ** 2)))


def freqs(n: int, rate: float) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / rate)


def resonance(f: np.ndarray, f0: float, q: float) -> np.ndarray:
    """Magnitude of a second-order band-pass resonator (peak 1 at f0); why: shells, panels
    and mounts ring at their modes, and a Lorentzian is their far-field shape."""
    ratio = f / f0
    return 1.0 / np.sqrt(1.0 + q * q * (ratio - 1.0 / np.maximum(ratio, 1e-9)) ** 2)


def modes_response(f: np.ndarray, modes: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    """Sum of (Hz, Q, gain) resonances, the colour of noise radiated by a structure."""
    out = np.zeros_like(f)
    for f0, q, gain in modes:
        out += gain * resonance(f, f0, q)
    return out


def noise_spectrum(rng: np.random.Generator, shape: np.ndarray, rms: float, n: int
                   ) -> np.ndarray:
    """Complex spectrum of Gaussian noise whose time signal (irfft, n samples) has RMS rms.

    The scale follows Parseval for numpy's irfft: sum over both halves of |X|^2 / n^2.
    """
    size = shape.size
    power = float(np.sum(shape**2)) * 2.0
    if power <= 0.0:
        return np.zeros(size, complex)
    spec = rng.standard_normal(size) + 1j * rng.standard_normal(size)
    return np.asarray(spec * shape * (rms * n / np.sqrt(2.0 * power)))


def shaped_noise(rng: np.random.Generator, shape: np.ndarray, rms: float, n: int) -> np.ndarray:
    return np.fft.irfft(noise_spectrum(rng, shape, rms, n), n)


def event_indices(cycles: np.ndarray, offset: float) -> np.ndarray:
    """Sample indices where a non-decreasing phase (in periods) passes integer + offset."""
    if cycles.size == 0 or cycles[-1] <= cycles[0]:
        return np.zeros(0, np.int64)
    first = np.ceil(cycles[0] - offset)
    last = np.floor(cycles[-1] - offset)
    if last < first:
        return np.zeros(0, np.int64)
    targets = np.arange(first, last + 1.0) + offset
    return np.searchsorted(cycles, targets).astype(np.int64)


def ring(n: int, rate: float, index: np.ndarray, amp: np.ndarray,
         response: np.ndarray) -> np.ndarray:
    """Impacts (impulses at sample indices) filtered by a resonance response, in one FFT.

    Circular convolution wraps the last few ms of ringing to the start; harmless here.
    """
    train = np.zeros(n)
    keep = (index >= 0) & (index < n)
    np.add.at(train, index[keep], amp[keep])
    return np.fft.irfft(np.fft.rfft(train) * response, n)


def unit_peak(response: np.ndarray, n: int) -> np.ndarray:
    """Scale an impact response so one unit impulse peaks at 1 whatever the sample rate:
    impact amplitudes can then be given as the peak the listener hears."""
    peak = float(np.abs(np.fft.irfft(response, n)).max())
    return response / peak if peak > 0 else response


def decay_response(f: np.ndarray, f0: float, q: float) -> np.ndarray:
    """Complex response of a damped resonator (impulse -> decaying sine at f0), with phase,
    so impacts ring causally instead of as symmetric blips."""
    w = f / f0
    return 1j * w / q / (1.0 - w * w + 1j * w / q)


def highpass(f: np.ndarray, fc: float) -> np.ndarray:
    """Second-order high-pass magnitude."""
    return np.asarray((f / fc) ** 2 / np.sqrt(1 + (f / fc) ** 4))


def lowpass(f: np.ndarray, fc: float) -> np.ndarray:
    """Second-order low-pass magnitude."""
    return np.asarray(1.0 / np.sqrt(1 + (f / fc) ** 4))


def band(f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A broad band-pass: second-order high-pass at lo times low-pass at hi."""
    return np.asarray(highpass(f, lo) * lowpass(f, hi))


def db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


def mixed_magnitude(parts: list[tuple[np.ndarray, float]], n: int) -> np.ndarray:
    """Per-bin magnitude so that Gaussian noise with it holds each (shape, rms) part at its
    RMS: independent stationary noises add in power, so they share one draw and one FFT."""
    total = np.zeros_like(parts[0][0]) if parts else np.zeros(n // 2 + 1)
    for shape, rms in parts:
        energy = float(np.sum(shape**2))
        if rms > 0.0 and energy > 0.0:
            total += shape**2 * (rms * rms * n * n / (4.0 * energy))
    return np.sqrt(total)


def gaussian_spectrum(rng: np.random.Generator, magnitude: np.ndarray) -> np.ndarray:
    size = magnitude.size
    return np.asarray((rng.standard_normal(size) + 1j * rng.standard_normal(size)) * magnitude)
