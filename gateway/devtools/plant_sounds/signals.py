"""The pieces every sound is built from: shaped noise, frequency responses applied in the
frequency domain, tone series on a rotation angle, ringing impacts. numpy only, so that the
generator runs wherever the bench runs."""

from __future__ import annotations

import numpy as np


def freqs(n: int, rate: float) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / rate)


def peak_gain(f: np.ndarray, f0: float, q: float, gain: float) -> np.ndarray:
    """A resonance as a magnitude: 1 + gain at f0, falling off with the quality factor q."""
    ratio = np.maximum(f, 1e-3) / f0
    return 1.0 + gain / (1.0 + (q * (ratio - 1.0 / ratio)) ** 2)


def highpass(f: np.ndarray, corner: float, order: int = 2) -> np.ndarray:
    ratio = np.maximum(f, 1e-3) / corner
    return ratio ** order / np.sqrt(1.0 + ratio ** (2 * order))


def lowpass(f: np.ndarray, corner: float, order: int = 2) -> np.ndarray:
    return 1.0 / np.sqrt(1.0 + (np.maximum(f, 0.0) / corner) ** (2 * order))


def apply_response(x: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """x filtered by a zero-phase magnitude response given on rfftfreq(len(x))."""
    return np.fft.irfft(np.fft.rfft(x) * magnitude, len(x))


def shaped_noise(rng: np.random.Generator, n: int, magnitude: np.ndarray) -> np.ndarray:
    """Gaussian noise with the given magnitude response, scaled to unit RMS."""
    y = apply_response(rng.standard_normal(n), magnitude)
    return y / max(float(np.sqrt(np.mean(y ** 2))), 1e-12)


def pink(f: np.ndarray, knee: float = 20.0) -> np.ndarray:
    """1/f power (1/sqrt(f) magnitude), flat under the knee."""
    return 1.0 / np.sqrt(np.maximum(f, knee))


def phase_of(freq_track: np.ndarray, rate: float, start: float = 0.0) -> np.ndarray:
    """The angle (rad) of something turning at freq_track Hz, sample by sample."""
    return start + 2 * np.pi * np.cumsum(freq_track) / rate


def tone_series(theta: np.ndarray, orders, amps, phases) -> np.ndarray:
    """Sum of a_k cos(order_k * theta + phase_k): lines that follow the speed."""
    out = np.zeros_like(theta)
    for order, amp, phase in zip(orders, amps, phases, strict=True):
        out += amp * np.cos(order * theta + phase)
    return out


def event_times(angle: np.ndarray, per_cycle: float, offset: float = 0.0) -> np.ndarray:
    """Sample indices where angle * per_cycle / 2pi - offset crosses an integer: one event per
    1/per_cycle of a turn (per_cycle need not be an integer, as for a bearing defect)."""
    count = np.floor(angle * per_cycle / (2 * np.pi) - offset)
    return np.flatnonzero(np.diff(count) > 0) + 1


def ring_kernel(rate: float, modes, length_s: float = 0.03) -> np.ndarray:
    """The impulse response of a struck structure: damped sines (frequency Hz, damping ratio,
    weight); modes above 0.45 of the rate are left out (the microphone's anti-alias filter)."""
    t = np.arange(int(rate * length_s)) / rate
    kernel = np.zeros_like(t)
    for f0, zeta, weight in modes:
        if f0 < 0.45 * rate:
            kernel += weight * np.exp(-2 * np.pi * f0 * zeta * t) * np.sin(2 * np.pi * f0 * t)
    return kernel


def impacts(n: int, at: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Impacts of the given amplitudes at sample indices `at`, each ringing the kernel."""
    train = np.zeros(n + len(kernel))
    inside = (at >= 0) & (at < n)
    np.add.at(train, at[inside], amps[inside])
    size = 1 << int(np.ceil(np.log2(len(train) + len(kernel))))
    out = np.fft.irfft(np.fft.rfft(train, size) * np.fft.rfft(kernel, size), size)
    return out[:n]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
