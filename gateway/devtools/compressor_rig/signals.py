"""The signal pieces the audio and the vibration are made of: shaped noise, damped modes,
tone series, ringing impacts, the microphone, and one window's shared scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.compressor_rig.units import Unit, device_rng, drift_at


def unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x * x)))
    return x / rms if rms > 0 else x


def spectral(x: np.ndarray, rate: float, response) -> np.ndarray:
    """x filtered by a frequency response (a function of Hz), circularly: the window is one
    stretch of a steady process, so what rings past its end comes back at its start."""
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return np.fft.irfft(np.fft.rfft(x) * response(freqs), x.size)


def noise(rng: np.random.Generator, n: int, rate: float, beta: float,
           band: tuple[float, float] | None = None) -> np.ndarray:
    """Unit-RMS noise with power falling as 1/f^beta, optionally band-limited (smooth edges)."""
    freqs = np.fft.rfftfreq(n, 1 / rate)
    shape = np.maximum(freqs, 20.0) ** (-beta / 2)
    if band is not None:
        lo, hi = band
        shape = shape / (1 + (lo / np.maximum(freqs, 1.0)) ** 8) / (1 + (freqs / hi) ** 8)
    spectrum = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * shape
    spectrum[0] = 0
    return unit_rms(np.fft.irfft(spectrum, n))


def modes(modes, factor: float = 1.0):
    """Frequency response of a set of damped modes (second-order band-passes)."""
    def response(f):
        f = np.maximum(f, 1e-3)
        return sum(g / (1 + 1j * q * (f / (fm * factor) - fm * factor / f)) for fm, q, g in modes)
    return response


def tones(t: np.ndarray, freqs, amps, phases, rate: float) -> np.ndarray:
    out = np.zeros_like(t)
    for f, a, p in zip(freqs, amps, phases, strict=True):
        if 0 < f < 0.45 * rate:
            out += a * np.sin(2 * np.pi * f * t + p)
    return out


def series(t: np.ndarray, f0: float, amps, phases, rate: float) -> np.ndarray:
    """Sum of a_k sin(2 pi k f0 t + p_k), k = 1..len(amps), below 0.45 of the rate; each
    order's phasor is the one before times the fundamental's (one exp for the whole series,
    which matters: this is most of a window's cost)."""
    base = np.exp(2j * np.pi * f0 * t)
    order, out = np.ones_like(base), np.zeros(t.size, dtype=complex)
    for k, (a, p) in enumerate(zip(amps, phases, strict=True), start=1):
        if k * f0 >= 0.45 * rate:
            break
        order = order * base
        out += a * np.exp(1j * p) * order
    return out.imag


def ringing(n: int, rate: float, times_s, amps, ring_hz: float, decay_s: float) -> np.ndarray:
    """Impacts at times_s, each ringing a resonance at ring_hz that decays in decay_s."""
    impulses = np.zeros(n)
    idx = (np.asarray(times_s) * rate).astype(int) % n
    np.add.at(impulses, idx, np.asarray(amps, dtype=float))
    t = np.arange(n) / rate
    kernel = np.exp(-t / decay_s) * np.sin(2 * np.pi * min(ring_hz, 0.45 * rate) * t)
    return np.fft.irfft(np.fft.rfft(impulses) * np.fft.rfft(kernel), n)


def train(rate_hz: float, duration_s: float, rng: np.random.Generator,
           jitter: float = 0.0) -> np.ndarray:
    """Times of a periodic event at rate_hz starting at a random phase, each a little early or
    late by `jitter` of a period (rolling elements slip)."""
    period = 1 / rate_hz
    times = rng.uniform(0, period) + np.arange(0, duration_s, period)
    times = times + rng.normal(0, jitter * period, times.size)
    return times[(times >= 0) & (times < duration_s)]


def mic(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """The microphone: 20 Hz second-order high-pass, self-noise at -80 dBFS, clipping."""
    x = spectral(x, rate, lambda f: (f / 20) ** 2 / np.sqrt(1 + (f / 20) ** 4))
    x = x + 1e-4 * rng.standard_normal(x.size)
    return np.clip(x, -1.0, 1.0)


@dataclass(frozen=True)
class Scene:
    """What one window's parts share: its time axis, the shaft, the machine level."""
    unit: Unit
    t: np.ndarray
    rate: float
    fr: float  # shaft speed now, Hz
    theta: float  # shaft angle at the window's start
    level: float  # machine RMS at the microphone now
    mode_factor: float


def scene(unit: Unit, t_s: float, rate: float, duration_s: float,
           rng: np.random.Generator) -> Scene:
    level_db, speed, mode_factor = drift_at(unit, t_s)
    return Scene(unit, np.arange(int(round(duration_s * rate))) / rate, rate,
                  unit.shaft_hz * speed, float(rng.uniform(0, 2 * np.pi)),
                  unit.gain * 10 ** (level_db / 20), mode_factor)


def streams(unit: Unit, t_s: float, rng: np.random.Generator | None, stream: int):
    """Four independent generators (machine, fault, room, sensor) for one window."""
    if rng is None:
        rng = device_rng(unit.device_id, unit.seed, int(round(t_s * 1000)), stream)
    return [np.random.default_rng(s) for s in rng.integers(0, 2 ** 63, 4)]


def check(fault: str | None, severity: float, kinds: tuple[str, ...]) -> None:
    if fault is not None and fault not in kinds:
        raise ValueError(f"unknown fault {fault!r}; expected one of {kinds}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity {severity!r} is outside [0, 1]")
