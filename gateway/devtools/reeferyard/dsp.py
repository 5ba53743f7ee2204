"""Small numpy signal blocks shared by the audio and vibration synthesis.

Speed matters (a measurement asks for tens of thousands of windows), so harmonic series are
played from one-period wavetables (cost independent of the number of harmonics), stationary
noises are shaped directly in the frequency domain, and resonances are applied as transfer
functions on spectra rather than as sample-by-sample filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

TABLE = 2048  # wavetable length; linear interpolation error is far below the PCM16 step


@lru_cache(maxsize=32)
def grid(n: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample times from 0 in s, rfft bin frequencies in Hz) for an n-sample window."""
    t = np.arange(n) / float(rate)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    t.flags.writeable = False
    f.flags.writeable = False
    return t, f


def cycles(freq_hz: float, t_s: float, t: np.ndarray) -> np.ndarray:
    """Phase in cycles of a tone at freq_hz, continuous in epoch time across windows.

    The epoch part is reduced modulo 1 first so that float64 keeps sub-microsecond accuracy.
    """
    start = (freq_hz * t_s) % 1.0
    out: np.ndarray = start + freq_hz * t
    return out


def wavetable(amps: Sequence[float], phases: Sequence[float], orders: Sequence[int]
              ) -> np.ndarray:
    """One period of sum(a cos(2 pi k x + p)) for integer orders k, built by one inverse FFT.

    Half orders (looseness sub-harmonics) are made by doubling the orders and playing the
    table at half the shaft phase. The extra last sample lets play() interpolate without wrap.
    """
    coeff = np.zeros(TABLE // 2 + 1, complex)
    for a, p, k in zip(amps, phases, orders, strict=True):
        if 0 < k < TABLE // 2:
            coeff[k] += a * np.exp(1j * p) * (TABLE / 2.0)
    tab = np.fft.irfft(coeff, TABLE)
    return np.append(tab, tab[0])


def play(table: np.ndarray, phase_cycles: np.ndarray) -> np.ndarray:
    """Read a wavetable at the given phase (in cycles, >= 0), with linear interpolation."""
    pos = phase_cycles * TABLE
    i = pos.astype(np.int64)
    w = pos - i
    np.bitwise_and(i, TABLE - 1, out=i)  # TABLE is a power of two: the modulo is a mask
    base = table[:-1]
    out: np.ndarray = np.take(base, i)
    out += np.take(np.diff(table), i) * w
    return out


def white_spec(rng: np.random.Generator, n: int) -> np.ndarray:
    """The rfft of n samples of unit-variance white noise, drawn directly in frequency."""
    nb = n // 2 + 1
    z = rng.standard_normal((2, nb), dtype=np.float32)
    spec: np.ndarray = (z[0] + 1j * z[1]) * np.sqrt(n / 2.0)
    spec[0] = 0.0  # no DC: microphones and MEMS accelerometers here are AC coupled
    return spec


def resonance(f: np.ndarray, f0: float, q: float) -> np.ndarray:
    """Second-order band-pass (peak gain 1 at f0): a structural or acoustic mode."""
    r = f / f0
    h: np.ndarray = (1j * r / q) / (1.0 - r * r + 1j * r / q)
    return h


def band(f: np.ndarray, lo: float, hi: float, order: int = 2) -> np.ndarray:
    """Smooth Butterworth-like magnitude band from lo to hi Hz (real, for noise shaping)."""
    with np.errstate(divide="ignore"):
        hp = 1.0 / np.sqrt(1.0 + (lo / np.maximum(f, 1e-9)) ** (2 * order))
    lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
    out: np.ndarray = hp * lp
    return out


def pink(f: np.ndarray, corner: float) -> np.ndarray:
    """1/sqrt(f) magnitude above a corner (pink noise), flat below it."""
    out: np.ndarray = 1.0 / np.sqrt(1.0 + f / corner)
    return out


def impulses(times: np.ndarray, amps: np.ndarray, n: int, rate: int) -> np.ndarray:
    """A sparse train of unit impulses at fractional sample positions (split between the two
    nearest samples, so an impact's timing is not quantised to the sample grid)."""
    out = np.zeros(n + 1)
    pos = np.asarray(times) * rate
    keep = (pos >= 0) & (pos < n)
    pos, a = pos[keep], np.asarray(amps)[keep]
    i = pos.astype(np.int64)
    w = pos - i
    np.add.at(out, i, a * (1.0 - w))
    np.add.at(out, i + 1, a * w)
    return out[:n]


def decays(times: Sequence[float] | np.ndarray, amps: Sequence[float] | np.ndarray,
           freqs: Sequence[float] | np.ndarray, tau: Sequence[float] | np.ndarray, n: int,
           rate: int) -> np.ndarray:
    """Sum of damped sinusoids a exp(-(t-t0)/tau) sin(2 pi f (t-t0)) that start at t0 (which
    may lie before the window: the ring-down of an earlier impact carries into it)."""
    t, _ = grid(n, rate)
    out = np.zeros(n)
    for t0, a, fr, ta in zip(times, amps, freqs, tau, strict=True):
        lo = max(int(np.ceil(t0 * rate)), 0)
        hi = min(n, int((t0 + 7.0 * ta) * rate) + 1)
        if hi <= lo:
            continue
        dt = t[lo:hi] - t0
        out[lo:hi] += a * np.exp(-dt / ta) * np.sin(2.0 * np.pi * fr * dt)
    return out


def butter_hp(f: np.ndarray, fc: float) -> np.ndarray:
    """Complex response of a 2nd-order Butterworth high-pass (the mic's wind / DC filter)."""
    s = 1j * f / fc
    h: np.ndarray = s * s / (1.0 + np.sqrt(2.0) * s + s * s)
    return h


def butter_lp(f: np.ndarray, fc: float) -> np.ndarray:
    """Complex response of a 2nd-order Butterworth low-pass (anti-alias, wall transmission)."""
    s = 1j * f / fc
    h: np.ndarray = 1.0 / (1.0 + np.sqrt(2.0) * s + s * s)
    return h


def pcm16(x: np.ndarray) -> np.ndarray:
    """Round to the PCM16 grid k/32768 and clip like an ADC does, as float32."""
    q = np.clip(np.rint(x * 32768.0), -32768.0, 32767.0) / 32768.0
    out: np.ndarray = q.astype(np.float32)
    return out


@lru_cache(maxsize=32)
def low_factor(n: int, rate: int, target: int = 4000) -> int:
    """Decimation q (dividing n) that brings rate down to about target Hz, for parts whose
    content lies well below target / 2 (tones of fans, neighbours, engines; wind; rumble)."""
    q = max(rate // target, 1)
    while q > 1 and n % q:
        q -= 1
    return q


def lift(x_low: np.ndarray, n: int) -> np.ndarray:
    """The rfft, on an n-sample grid, of a signal sampled q = n / len(x_low) times slower:
    band-limited interpolation without ever making the full-rate samples."""
    m = len(x_low)
    out = np.zeros(n // 2 + 1, complex)
    spec = np.fft.rfft(x_low) * (n / m)
    if m % 2 == 0:
        spec[-1] = 0.0  # the low rate's Nyquist bin has no counterpart on the finer grid
    out[: len(spec)] = spec
    return out


@lru_cache(maxsize=96)  # up to ~0.4 MB each at 48 kHz: bounded, not per unit forever
def cached(fn: Callable[..., np.ndarray], n: int, rate: int, *args: float) -> np.ndarray:
    """fn(f, *args) on the window's frequency grid, computed once per (n, rate, args): the
    same filter shapes recur in every window of a unit. Read-only, so no caller can spoil it."""
    out = fn(grid(n, rate)[1], *args)
    out.flags.writeable = False
    return out
