"""Impacts ringing modes: the common last step of every bearing, knock, rattle and tick.

An impulse train (fractional sample positions) is taken to the frequency domain once and
multiplied by the sum of the struck structure's modes, normalised so a unit impulse rings
with a peak of about 1 whatever the mode's frequency, Q or the sample rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import dsp


def modes_response(f: np.ndarray, rate: int, modes: Sequence[tuple[float, float, float]]
                   ) -> np.ndarray:
    """Sum of (f0, Q, gain) resonances with impulse-response peaks normalised to gain."""
    h = np.zeros(len(f), complex)
    for f0, q, g in modes:
        if f0 < 0.48 * rate:
            h += g * dsp.resonance(f, f0, q) * (rate * q / (2.0 * np.pi * f0))
    return h


def ring(times: np.ndarray, amps: np.ndarray, n: int, rate: int, f: np.ndarray,
         modes: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Impacts at times (s from the window start) with amps, each ringing the modes."""
    if len(times) == 0:
        return np.zeros(n)
    train = dsp.impulses(np.asarray(times, float), np.asarray(amps, float), n, rate)
    out: np.ndarray = np.fft.irfft(np.fft.rfft(train) * modes_response(f, rate, modes), n)
    return out


def crossings(phase_cycles: np.ndarray, rate: int, offset: float = 0.0) -> np.ndarray:
    """Times (s) at which a phase in cycles passes offset + an integer (once per turn)."""
    k = np.floor(phase_cycles - offset)
    idx = np.nonzero(np.diff(k) > 0)[0]
    if len(idx) == 0:
        return np.zeros(0)
    p0, p1 = phase_cycles[idx] - offset, phase_cycles[idx + 1] - offset
    frac = (np.floor(p1) - p0) / np.maximum(p1 - p0, 1e-12)
    out: np.ndarray = (idx + frac) / rate
    return out


def defect_times(rate_hz: float, span_s: float, jitter: float, rng: np.random.Generator,
                 start_phase: float) -> np.ndarray:
    """Impact times of a bearing defect at rate_hz, with the few percent of random slip that
    rolling elements have (so the comb smears at high orders, as in real bearings)."""
    if rate_hz <= 0:
        return np.zeros(0)
    count = int(span_s * rate_hz) + 2
    periods = (1.0 + jitter * rng.standard_normal(count)) / rate_hz
    out: np.ndarray = (start_phase % 1.0) / rate_hz + np.concatenate(([0.0],
                                                                      np.cumsum(periods)[:-1]))
    return out[out < span_s]
