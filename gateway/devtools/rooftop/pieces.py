"""The shared signal pieces: keyed random generators, shaped noise, harmonic combs on a
running phase, ringing impact trains and PCM16 steps.

Everything works on whole windows with numpy (one FFT pair per shaped signal, a table
look-up per harmonic comb), so a 1 s window at 48 kHz costs a few milliseconds.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

TABLE = 2048  # points of one period of a comb's waveform


def key(*parts: str | float) -> list[int]:
    """A seed sequence for numpy from strings, ints and floats (floats to the millisecond)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(zlib.crc32(part.encode()))
        elif isinstance(part, float):
            out.append(int(round(part * 1000)) % 2**63)
        else:
            out.append(int(part) % 2**63)
    return out


def rng(*parts: str | float) -> np.random.Generator:
    return np.random.default_rng(key(*parts))


@lru_cache(maxsize=32)
def freqs(n: int, rate: int) -> np.ndarray:
    """The rfft bin frequencies of an n-sample window (cached: read-only)."""
    f = np.fft.rfftfreq(n, 1.0 / rate)
    f.setflags(write=False)
    return f


@lru_cache(maxsize=32)
def times(n: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    t.setflags(write=False)
    return t


def band(f: np.ndarray, lo: float, hi: float, order: float = 1.0) -> np.ndarray:
    """A smooth band-pass magnitude: Butterworth-like skirts of the given order (cached per
    window shape: read-only)."""
    return _band(f.size, float(f[1]) if f.size > 1 else 1.0, lo, hi, order)


@lru_cache(maxsize=512)
def _band(size: int, step: float, lo: float, hi: float, order: float) -> np.ndarray:
    f = np.arange(size) * step
    with np.errstate(divide="ignore"):
        low = 1.0 / (1.0 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
    out = low / (1.0 + (f / hi) ** (2 * order))
    out.setflags(write=False)
    return out


def peak(f: np.ndarray, f0: float, q: float) -> np.ndarray:
    """A second-order resonance's magnitude, 1 at f0 (a panel, a shell mode, a pipe)."""
    return _peak(f.size, float(f[1]) if f.size > 1 else 1.0, f0, q)


@lru_cache(maxsize=512)
def _peak(size: int, step: float, f0: float, q: float) -> np.ndarray:
    r = np.arange(size) * (step / f0)
    out = (1.0 / q) / np.sqrt((1.0 - r * r) ** 2 + (r / q) ** 2)
    out.setflags(write=False)
    return out


def modes_response(f: np.ndarray, modes: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    """The sum of (frequency, Q, gain) resonances (cached per unit and window shape)."""
    return _modes(f.size, float(f[1]) if f.size > 1 else 1.0, modes)


@lru_cache(maxsize=256)
def _modes(size: int, step: float, modes: tuple[tuple[float, float, float], ...]
           ) -> np.ndarray:
    out = np.zeros(size)
    for f0, q, gain in modes:
        out += gain * _peak(size, step, f0, q)
    out.setflags(write=False)
    return out


def noise_scale(shape: np.ndarray, n: int, rms: float) -> float:
    """The factor giving shaped_noise's output `rms` on average: an irfft of complex
    normals times s_k has variance 4 sum(s_k^2) / n^2 (independent of the draw, so a
    fault's noise scales exactly with its severity)."""
    power = float(np.square(shape).sum())  # not np.dot: BLAS threads would spin
    return rms * n / (2.0 * np.sqrt(power)) if power > 0 else 0.0


def shaped_noise(gen: np.random.Generator, n: int, rate: int, shape: np.ndarray,
                 rms: float = 1.0) -> np.ndarray:
    """Gaussian noise whose spectrum magnitude is `shape` (on freqs(n, rate)), at `rms`."""
    m = shape.size
    spec = gen.standard_normal(2 * m).view(complex) * (shape * noise_scale(shape, n, rms))
    return np.fft.irfft(spec, n)


def filtered(x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """x through a zero-phase filter of magnitude `shape` (circular over the window)."""
    return np.fft.irfft(np.fft.rfft(x) * shape, x.size)


def comb(cycles: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Harmonics 1..K of a running phase `cycles` (in turns, >= 0): sum a_k cos(2 pi k c +
    p_k), read from one period's table, so frequency wander costs nothing extra."""
    spec = np.zeros(TABLE // 2 + 1, complex)
    k = min(amps.size, TABLE // 2 - 1)
    spec[1:k + 1] = amps[:k] * np.exp(1j * phases[:k]) * (TABLE / 2)
    table = np.fft.irfft(spec, TABLE)
    table = np.append(table, table[0])
    slope = np.diff(table)
    pos = cycles * TABLE
    i = pos.astype(np.int64)
    frac = pos - i
    i &= TABLE - 1
    return table[i] + frac * slope[i]


def tone(hz: float, n: int, rate: int, phase: float) -> np.ndarray:
    """One steady sinusoid (float32 argument: a few mrad of phase error, twice the speed)."""
    arg = (2 * np.pi * hz) * times(n, rate) + phase
    return np.cos(arg.astype(np.float32)).astype(np.float64)


def harmonics_below(f0: float, nyquist: float, count: int) -> int:
    """How many harmonics of f0 fit below the Nyquist frequency (at most count)."""
    return int(max(0, min(count, (0.9 * nyquist) // max(f0, 1e-6))))


def running_phase(t0_cycles: float, hz: np.ndarray | float, n: int, rate: int) -> np.ndarray:
    """Turns of a rotation at `hz` (constant or per sample) from t0_cycles."""
    if np.isscalar(hz):
        return t0_cycles + float(hz) * times(n, rate)  # type: ignore[arg-type]
    return t0_cycles + np.cumsum(hz) / rate


def impulses(n: int, rate: int, at_s: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """A train of unit impulses (amplitudes `amps`) at times `at_s` inside the window."""
    x = np.zeros(n)
    idx = np.round(at_s * rate).astype(np.int64)
    keep = (idx >= 0) & (idx < n)
    np.add.at(x, idx[keep], amps[keep])
    return x


def periodic_times(rate_hz: float, seconds: float, start_turns: float,
                   jitter: float, gen: np.random.Generator) -> np.ndarray:
    """Times of events repeating at rate_hz (an impact per defect passage), each shifted by
    a random fraction `jitter` of a period (rolling elements slip)."""
    if rate_hz <= 0:
        return np.zeros(0)
    first = ((-start_turns) % 1.0) / rate_hz
    count = int(seconds * rate_hz) + 2
    at = first + np.arange(count) / rate_hz
    return at + gen.normal(0.0, jitter / rate_hz, count)


def pcm16(x: np.ndarray) -> np.ndarray:
    """float32 on PCM16 steps, as encode_wav writes them (round, clip to the codes)."""
    codes = np.clip(np.rint(x * 32768.0), -32768, 32767)
    return (codes / 32768.0).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
