"""Shared signal pieces: keyed random generators, noise drawn in the frequency domain, tone
combs read from one period table, ringing impacts and resonances.

Every window is built mostly in the frequency domain (one rfft grid per window length and
rate), so a dozen sources cost a few FFTs rather than a dozen filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np

TABLE = 2048  # samples in one period of a tone comb's table


def rng(*keys: object) -> np.random.Generator:
    """A generator that depends only on `keys` (strings, ints, floats), never on call order."""
    text = "\x1f".join(repr(k) for k in keys).encode()
    words = np.frombuffer(hashlib.blake2b(text, digest_size=16).digest(), np.uint32)
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


@lru_cache(maxsize=8192)
def uniforms(count: int, *keys: object) -> tuple[float, ...]:
    """`count` uniform [0, 1) numbers that depend only on `keys`, remembered: the constants
    of a unit, a day or a window asked for again and again."""
    return tuple(float(u) for u in rng(*keys).random(count))


def freqs(n: int, rate: float) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / rate)


def resonance(f: np.ndarray, centre: float, q: float) -> np.ndarray:
    """|H| of a second-order band-pass of unit peak gain (a structural or acoustic mode)."""
    ratio = np.maximum(f, 1e-3) / centre
    return 1.0 / np.sqrt(1.0 + q * q * (ratio - 1.0 / ratio) ** 2)


def modal_response(f: np.ndarray, modes: list[tuple[float, float, float]], rate: float
                   ) -> np.ndarray:
    """Complex response of a sum of lightly damped modes (centre Hz, Q, gain): the ring an
    impulse leaves in a shell, a pan or a panel. Modes above Nyquist are dropped."""
    h = np.zeros(f.size, np.complex128)
    s = 2j * np.pi * f
    for centre, q, gain in modes:
        if centre >= 0.45 * rate:
            continue
        w0 = 2 * np.pi * centre
        h += gain * (w0 / q) * s / (s * s + (w0 / q) * s + w0 * w0)
    return h


def band(f: np.ndarray, low: float, high: float, order: int = 2) -> np.ndarray:
    """|H| of a smooth band: high-pass at `low`, low-pass at `high` (Butterworth-like)."""
    fl = np.maximum(f, 1e-3)
    hp = 1.0 / np.sqrt(1.0 + (low / fl) ** (2 * order)) if low > 0 else 1.0
    lp = 1.0 / np.sqrt(1.0 + (fl / high) ** (2 * order))
    return hp * lp


def pink(f: np.ndarray, corner: float = 50.0, slope: float = 0.5) -> np.ndarray:
    """Amplitude falling as f^-slope above `corner` (slope 0.5 is pink)."""
    return 1.0 / (1.0 + np.maximum(f, 0.0) / corner) ** slope


def noise_scale(amp: np.ndarray, rms: float) -> float:
    """The factor on `amp` that gives Gaussian noise of that shape a time RMS of `rms`."""
    n = 2 * (amp.size - 1)
    power = float(np.sum(amp * amp))
    return rms * n / (2.0 * np.sqrt(power)) if power > 0 and rms > 0 else 0.0


def complex_normal(gen: np.random.Generator, size: int) -> np.ndarray:
    return gen.standard_normal(2 * size).view(np.complex128)


def noise_spectrum(gen: np.random.Generator, amp: np.ndarray, rms: float) -> np.ndarray:
    """rfft of Gaussian noise whose amplitude spectrum has the shape `amp`, scaled so the
    time signal's expected RMS is `rms` (independent of the draw, so levels are set, not
    measured)."""
    return complex_normal(gen, amp.size) * (amp * noise_scale(amp, rms))


def to_time(spectrum: np.ndarray, n: int) -> np.ndarray:
    return np.fft.irfft(spectrum, n)


def comb_table(amplitudes: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """One period of a tone series: harmonic k+1 with amplitudes[k] and phases[k]."""
    k = np.arange(1, amplitudes.size + 1)[:, None]
    theta = 2 * np.pi * np.arange(TABLE)[None, :] / TABLE
    table = (amplitudes[:, None] * np.sin(k * theta + phases[:, None])).sum(axis=0)
    return np.append(table, table[0])


def harmonic_limit(fundamental: float, rate: float, wanted: int) -> int:
    """How many harmonics of `fundamental` stay below 0.45 x rate (no aliasing)."""
    return max(1, min(wanted, int(0.45 * rate / max(fundamental, 1e-6))))


def play_comb(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The comb at a running phase given in cycles (any real numbers); single precision
    positions are plenty for a table of 2048 points."""
    pos = ((cycles % 1.0) * TABLE).astype(np.float32)
    i = np.minimum(pos.astype(np.int32), TABLE - 1)  # a phase a hair under 1 rounds to TABLE
    return table[i] + np.diff(table)[i] * (pos - i)


def tone(cycles: np.ndarray, amplitude: float) -> np.ndarray:
    """A sinusoid; the phase is reduced first, so single precision is exact enough."""
    return amplitude * np.sin((2 * np.pi * (cycles % 1.0)).astype(np.float32))


def impulses(n: int, rate: float, times_s: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """rfft of a train of unit impulses at `times_s` (inside the window) with `amps`."""
    train = np.zeros(n)
    idx = np.clip(np.rint(np.asarray(times_s) * rate).astype(np.int64), 0, n - 1)
    np.add.at(train, idx, amps)
    return np.fft.rfft(train)


def ring_spectrum(n: int, rate: float, times_s: np.ndarray, amps: np.ndarray,
                  response: np.ndarray) -> np.ndarray:
    """Impacts at `times_s` each ringing `response` (a complex modal response)."""
    if len(times_s) == 0:
        return np.zeros(n // 2 + 1, np.complex128)
    return impulses(n, rate, times_s, amps) * response


def envelope_ramp(t: np.ndarray, start: float, rise: float, end: float, fall: float
                  ) -> np.ndarray:
    """0 before `start`, up over `rise` s, flat, down over `fall` s ending at `end`."""
    up = np.clip((t - start) / max(rise, 1e-6), 0.0, 1.0)
    down = np.clip((end - t) / max(fall, 1e-6), 0.0, 1.0)
    return np.minimum(up, down)


def db(level: float) -> float:
    """Linear amplitude of a level in dB (0 dB is 1)."""
    return float(10.0 ** (level / 20.0))


SPL_REF = 20e-6  # Pa


def spl(level_db: float) -> float:
    """RMS pressure in Pa of a sound pressure level."""
    return SPL_REF * db(level_db)


def spectrum_rms(spec: np.ndarray, n: int) -> float:
    """Time-domain RMS of the signal whose rfft is `spec` (Parseval)."""
    power = 2.0 * float(np.sum(np.abs(spec[1:]) ** 2)) + float(abs(spec[0]) ** 2)
    if n % 2 == 0:
        power -= float(abs(spec[-1]) ** 2)
    return float(np.sqrt(max(power, 0.0)) / n)


def scaled(spec: np.ndarray, n: int, rms: float) -> np.ndarray:
    """`spec` rescaled so its time signal has RMS `rms`."""
    now = spectrum_rms(spec, n)
    return spec * (rms / now) if now > 0 else spec


class Frame:
    """One window's grid: length, rate, rfft frequencies, sample times (from the window's
    start), and the window's start in epoch seconds. Grids are cached per (n, rate)."""

    _grids: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}

    def __init__(self, n: int, rate: float, t_s: float) -> None:
        key = (n, float(rate))
        if key not in Frame._grids:
            if len(Frame._grids) > 32:
                Frame._grids.clear()
            Frame._grids[key] = (freqs(n, rate), np.arange(n) / float(rate))
        self.n, self.rate, self.t_s = n, float(rate), t_s
        self.f, self.t = Frame._grids[key]

    def zeros_spec(self) -> np.ndarray:
        return np.zeros(self.f.size, np.complex128)

    _shapes: dict[tuple, np.ndarray] = {}

    def _shape(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        full = (self.n, self.rate, *key)
        shape = Frame._shapes.get(full)
        if shape is None:
            if len(Frame._shapes) > 256:  # constant shapes only: a few per grid
                Frame._shapes.clear()
            shape = Frame._shapes[full] = make()
        return shape

    def band(self, low: float, high: float, order: int = 2) -> np.ndarray:
        return self._shape(("band", low, high, order), lambda: band(self.f, low, high, order))

    def pink(self, corner: float = 50.0, slope: float = 0.5) -> np.ndarray:
        return self._shape(("pink", corner, slope), lambda: pink(self.f, corner, slope))

    def resonance(self, centre: float, q: float) -> np.ndarray:
        return self._shape(("res", centre, q), lambda: resonance(self.f, centre, q))

    def modes(self, modes: list[tuple[float, float, float]]) -> np.ndarray:
        """modal_response on this grid, made once per set of modes."""
        return self._shape(("modes", tuple(modes)),
                           lambda: modal_response(self.f, modes, self.rate))

    def shape(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Any other constant spectral shape, made once per grid."""
        return self._shape(("any", *key), make)


class Mix:
    """A sound being assembled: a frequency-domain part, a time-domain part, and a bed of
    steady noise sources (their power spectra summed, drawn once from `gen`: a sum of
    independent Gaussian noises is one Gaussian noise)."""

    def __init__(self, frame: Frame, gen: np.random.Generator | None = None) -> None:
        self.frame, self.gen = frame, gen
        self.spec = frame.zeros_spec()
        self.time = np.zeros(frame.n)
        self.bed = np.zeros(frame.f.size)

    def add_noise(self, amp: np.ndarray, rms: float) -> None:
        self.bed += (amp * noise_scale(amp, rms)) ** 2

    def spectrum(self) -> np.ndarray:
        out = self.spec + np.fft.rfft(self.time)
        if self.gen is not None and self.bed.any():
            out += complex_normal(self.gen, self.bed.size) * np.sqrt(self.bed)
        return out


def knocks(fr: Frame, times_s: np.ndarray, amps: np.ndarray, response: np.ndarray,
           knock_rms: float) -> np.ndarray:
    """Impacts ringing `response`, each (x amps) as loud as a lone impact whose ring has
    RMS `knock_rms` over one second: so more impacts add energy, and an impact's level
    depends neither on how many there happen to be nor on the window's length."""
    if len(times_s) == 0:
        return fr.zeros_spec()
    single = spectrum_rms(response, fr.n) * np.sqrt(fr.n / fr.rate)  # its energy per second
    return ring_spectrum(fr.n, fr.rate, times_s, amps, response) * (knock_rms / single)
