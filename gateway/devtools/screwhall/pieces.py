"""Signal pieces shared by the audio and vibration models: seeded generators, tone combs
read from one period table, noise drawn straight in the frequency domain, ringing impacts.

Everything here is vectorised numpy, because the bench makes tens of thousands of windows:
a harmonic comb costs one small inverse FFT and one table look-up per sample, however many
harmonics it has, and broadband noise costs no forward FFT at all.
"""

from __future__ import annotations

import hashlib

import numpy as np

TABLE = 4096  # samples in one period of a comb's wave table


def seed_of(*parts: object) -> int:
    """A stable 64-bit seed from any printable parts (Python's hash() changes per process)."""
    text = "|".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def rng_for(*parts: object) -> np.random.Generator:
    return np.random.default_rng(seed_of(*parts))


def comb_table(amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k-1] * sin(2 pi k x + phases[k-1]), sampled TABLE times."""
    spectrum = np.zeros(TABLE // 2 + 1, complex)
    k = min(len(amps), TABLE // 2 - 1)
    spectrum[1:k + 1] = amps[:k] * np.exp(1j * (phases[:k] - np.pi / 2)) * (TABLE / 2)
    return np.fft.irfft(spectrum, TABLE)


def read_table(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The table read at a phase given in cycles (any real numbers), linearly interpolated."""
    pos = np.mod(cycles, 1.0) * TABLE
    i0 = pos.astype(np.int64)
    frac = pos - i0
    i0 %= TABLE
    return table[i0] * (1.0 - frac) + table[(i0 + 1) % TABLE] * frac


def comb(amps: np.ndarray, phases: np.ndarray, cycles: np.ndarray, f0_hz: float,
         rate: int) -> np.ndarray:
    """A harmonic series of a fundamental whose running phase (in cycles) is `cycles`;
    harmonics above 0.45 of the sample rate are dropped so nothing aliases."""
    if f0_hz <= 0:
        return np.zeros_like(cycles)
    keep = int(max(0, min(len(amps), 0.45 * rate // f0_hz)))
    if keep == 0:
        return np.zeros_like(cycles)
    return read_table(comb_table(amps[:keep], phases[:keep]), cycles)


def tones(freqs: np.ndarray, amps: np.ndarray, phases: np.ndarray, t: np.ndarray,
          rate: int) -> np.ndarray:
    """A few free sinusoids (not harmonics of one fundamental), below 0.45 of the rate.

    t must be evenly spaced at 1/rate from t[0]. Each tone is exp(j w t) split as (block
    start) x (offset in block), so a tone costs two outer products of ~sqrt(n) numbers
    instead of a sine per sample.
    """
    f = np.asarray(freqs, float)
    keep = (f > 0) & (f < 0.45 * rate) & (np.asarray(amps) > 0)
    n = t.size
    if not keep.any() or n == 0:
        return np.zeros_like(t)
    f, a, p = f[keep], np.asarray(amps, float)[keep], np.asarray(phases, float)[keep]
    block = int(np.ceil(np.sqrt(n)))
    count = -(-n // block)
    w = 2 * np.pi * f[:, None]
    starts = np.exp(1j * (w * (t[0] + np.arange(count) * block / rate) + p[:, None]))
    starts *= a[:, None]
    within = np.exp(1j * w * (np.arange(block) / rate))
    out = np.zeros((count, block))
    for s, i in zip(starts, within, strict=True):  # Im(s * i), no BLAS (its threads contend)
        out += np.multiply.outer(s.real, i.imag)
        out += np.multiply.outer(s.imag, i.real)
    return out.reshape(-1)[:n]


def noise_spectrum(rng: np.random.Generator, shape: np.ndarray, n: int) -> np.ndarray:
    """The rfft of Gaussian noise whose amplitude spectrum is `shape`, scaled so that the
    noise's expected RMS is sqrt(mean(shape**2)) (shape 1 everywhere: unit white noise)."""
    m = shape.size
    white = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    return white * shape * (n / np.sqrt(2 * m))


def shaped_noise(rng: np.random.Generator, shape: np.ndarray, n: int) -> np.ndarray:
    return np.fft.irfft(noise_spectrum(rng, shape, n), n)


def band(freqs: np.ndarray, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """A smooth band-pass magnitude (Butterworth-like skirts of `order`) from lo to hi Hz."""
    f = np.maximum(freqs, 1e-3)
    high = 1.0 / np.sqrt(1.0 + (lo / f) ** (2 * order))
    low = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
    return high * low


def resonance(freqs: np.ndarray, f0: float, q: float) -> np.ndarray:
    """|H| of a second-order resonance at f0 with quality factor q, 1 at its peak."""
    f = np.maximum(freqs, 1e-3)
    return 1.0 / np.sqrt(1.0 + q * q * (f / f0 - f0 / f) ** 2)


def impulses(times_s: np.ndarray, amps: np.ndarray, n: int, rate: int) -> np.ndarray:
    """Unit impulses at the given times (seconds from the window start) inside the window."""
    out = np.zeros(n)
    idx = np.rint(np.asarray(times_s) * rate).astype(np.int64)
    inside = (idx >= 0) & (idx < n)
    np.add.at(out, idx[inside], np.asarray(amps)[inside])
    return out


def ring(train: np.ndarray, response: np.ndarray) -> np.ndarray:
    """An impulse train through a structure whose magnitude response is `response` (rfft
    bins), with the minimum of phase bookkeeping: a causal decaying ring per impulse."""
    n = train.size
    return np.fft.irfft(np.fft.rfft(train) * response, n)


def ringing_response(freqs: np.ndarray, modes: list[tuple[float, float]]) -> np.ndarray:
    """Complex response of a few damped modes (f0, q), causal, each peaking at 1."""
    f = np.maximum(freqs, 1e-3)
    total = np.zeros(freqs.size, complex)
    for f0, q in modes:
        total += 1.0 / (1.0 + 1j * q * (f / f0 - f0 / f))
    return total / max(len(modes), 1)


def periodic_times(rate_hz: float, seconds: float, phase: float, jitter: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Event times every 1/rate_hz from a phase (cycles), with a little timing jitter."""
    if rate_hz <= 0:
        return np.zeros(0)
    count = int(seconds * rate_hz) + 2
    base = (np.arange(count) - (phase % 1.0)) / rate_hz
    return base + rng.normal(0.0, jitter / rate_hz, count)


def pcm16(x: np.ndarray) -> np.ndarray:
    """Round to PCM16 steps and clip as a 16-bit converter does; float32 out."""
    return (np.clip(np.rint(x * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)
