"""Signal building blocks shared by the sound and vibration models, all numpy, all vectorised.

Filtering is done on the window's spectrum (one real FFT each way): a resonance, a band or a
spectral tilt is a gain curve over the FFT bins. That is a circular convolution over the
window, so a ringing impact late in the window wraps to its start, which is harmless here and
keeps windows seamless. Harmonic series are read from a one-period wavetable, so a comb of a
dozen harmonics costs one table lookup instead of a dozen sines.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLE_SIZE = 4096


@lru_cache(maxsize=64)
def bin_freqs(frames: int, rate: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(frames, 1.0 / rate)
    freqs.setflags(write=False)
    return freqs


def resonance(freqs: np.ndarray, centre: float, q: float) -> np.ndarray:
    """Magnitude of a second-order resonator normalised to 1 at its centre."""
    ratio = freqs / centre
    return (1.0 / q) / np.sqrt((1.0 - ratio**2) ** 2 + (ratio / q) ** 2)


def ringing(freqs: np.ndarray, centre: float, q: float) -> np.ndarray:
    """The same resonator with its phase: complex, causal (an impact rings after it, never
    before), magnitude as resonance()."""
    ratio = freqs / centre
    return (1.0 / q) / (1.0 - ratio**2 + 1j * ratio / q)


def band(freqs: np.ndarray, low: float, high: float, order: int = 2) -> np.ndarray:
    """A smooth band-pass gain: high-pass at low and low-pass at high (Butterworth-like)."""
    safe = np.maximum(freqs, 1e-3)
    hp = 1.0 / np.sqrt(1.0 + (low / safe) ** (2 * order)) if low > 0 else 1.0
    return hp / np.sqrt(1.0 + (freqs / high) ** (2 * order))


@lru_cache(maxsize=96)
def band_gain(frames: int, rate: int, low: float, high: float, order: int = 2) -> np.ndarray:
    """band() over a window's FFT bins, kept: windows of one unit ask for the same bands."""
    gain = band(bin_freqs(frames, rate), low, high, order)
    gain.setflags(write=False)
    return gain


def impact_response(gain: np.ndarray, frames: int) -> np.ndarray:
    """gain scaled so a unit impulse through it peaks at about 1. A zero-phase response peaks
    at lag 0, at (2 * sum of the gains - the DC gain) / frames; a causal ringing of the same
    magnitude peaks at 0.55-0.9 of that (lower for higher Q), 0.7 is taken."""
    magnitude = np.abs(gain)
    peak = (2.0 * float(np.sum(magnitude)) - float(magnitude[0])) / frames
    if np.iscomplexobj(gain):
        peak *= 0.7
    return gain / peak if peak > 0 else gain


def coloured_noise(rng: np.random.Generator, frames: int, gain: np.ndarray) -> np.ndarray:
    """Gaussian noise whose spectrum is gain (drawn in the frequency domain: one FFT)."""
    bins = gain.shape[-1]
    spectrum = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    out = np.fft.irfft(spectrum * gain, n=frames)
    return out * np.sqrt(frames / 2.0)


@lru_cache(maxsize=512)
def wavetable(amplitudes: tuple[float, ...], phases: tuple[float, ...]) -> np.ndarray:
    """A machine's fixed waveform, kept: the same unit asks for the same table every window."""
    return build_wavetable(amplitudes, phases)


def build_wavetable(amplitudes: tuple[float, ...], phases: tuple[float, ...]) -> np.ndarray:
    """One period of sum_k a_k sin(2 pi k x + phi_k), sampled at TABLE_SIZE points."""
    x = np.arange(TABLE_SIZE) / TABLE_SIZE
    k = np.arange(1, len(amplitudes) + 1)[:, None]
    table = np.asarray(amplitudes) @ np.sin(2 * np.pi * k * x + np.asarray(phases)[:, None])
    table = np.append(table, table[0])  # guard point for interpolation
    table.setflags(write=False)
    return table


def read_table(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The table's waveform at the given phase in cycles (any real value), interpolated."""
    position = cycles * TABLE_SIZE  # phases here are never negative: truncation is floor
    whole = position.astype(np.int64)
    frac = position - whole
    whole &= TABLE_SIZE - 1  # TABLE_SIZE is a power of two
    low = np.take(table, whole)
    high = np.take(table, whole + 1)
    high -= low
    high *= frac
    high += low
    return high


@lru_cache(maxsize=64)
def sample_times(frames: int, rate: int) -> np.ndarray:
    """Seconds from the window's start of each sample."""
    times = np.arange(frames) / rate
    times.setflags(write=False)
    return times


def cycles_at(t_s: float, frames: int, rate: int, hz: float, phase: float = 0.0) -> np.ndarray:
    """Phase in cycles of a steady rotation at hz, continuous across windows in epoch time.
    The integer part of hz * t_s is dropped first so float64 keeps its precision."""
    start = (hz * float(t_s) + phase) % 1.0
    cycles = sample_times(frames, rate) * hz
    cycles += start
    return cycles


def impulse_train(
    rng: np.random.Generator, frames: int, rate: int, hz: float, jitter: float, t_s: float
) -> np.ndarray:
    """Unit impulses at a rate of hz whose spacing wanders by a fraction jitter (slip of a
    rolling element, variation of a valve event), aligned to epoch time."""
    period = rate / hz
    first = (-(float(t_s) * hz) % 1.0) * period
    count = int((frames - first) / period) + 2
    positions = first + period * np.arange(count)
    positions += rng.normal(0.0, jitter * period, count)
    samples = np.round(positions).astype(np.int64)
    train = np.zeros(frames)
    keep = samples[(samples >= 0) & (samples < frames)]
    np.add.at(train, keep, 1.0)
    return train


def envelope_of(bumps: int, cycles: np.ndarray, width: float) -> np.ndarray:
    """A smooth periodic gate: bumps per cycle, each a raised cosine of the given width
    (fraction of the spacing) - used for load-zone and blade-pass modulation."""
    x = (cycles * bumps) % 1.0
    inside = np.abs(x - 0.5) < width / 2
    return np.where(inside, 0.5 + 0.5 * np.cos(2 * np.pi * (x - 0.5) / width), 0.0)
