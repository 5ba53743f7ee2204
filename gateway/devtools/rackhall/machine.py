"""The monitored compressor's own voice at the microphone (direct sound): the rotation comb
with its gas-pulsation orders, the motor's tones, valve impacts (reciprocating) or the
scroll's discharge flow, broadband gas noise through the housing modes, the PWM whine."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rackhall import motor
from gateway.devtools.rackhall.operation import Moment
from gateway.devtools.rackhall.pieces import (
    band_shape,
    cached,
    decaying_mode,
    freqs,
    harmonic_series,
    low_rate,
    modes_response,
    ringing,
    shaped_noise,
    tones,
    upsample,
)
from gateway.devtools.rackhall.units import Unit


def tonal(unit: Unit, m: Moment, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Comb and motor lines, synthesised at a low rate (nothing tonal above 3.5 kHz here)."""
    factor, lo_rate = low_rate(rate)
    t = np.arange(n // factor) / lo_rate
    orders = int(min(len(unit.harmonics), 0.45 * lo_rate // m.shaft_hz))
    pressure = (0.7 + 0.3 * m.load / unit.rack_size) * m.drift
    comb = harmonic_series(t, m.shaft_hz, unit.harmonics[:orders] * pressure,
                           rng.uniform(0, 2 * np.pi, orders))
    lines = [(f, a) for f, a in motor.magnetic_tones(unit, m.shaft_hz, m.load / unit.rack_size)
             if f < 0.45 * lo_rate]
    comb += tones(t, [f for f, _ in lines], [a for _, a in lines],
                  list(rng.uniform(0, 2 * np.pi, len(lines))))
    return upsample(comb, n)


def event_times(unit: Unit, shaft_hz: float, n: int, rate: int, angle: float,
                per_rev: int) -> np.ndarray:
    """Times of per_rev evenly spaced events per revolution from shaft angle `angle`."""
    revs = shaft_hz * n / rate
    k = np.arange(int(np.ceil(revs * per_rev)) + 1)
    return (k / per_rev - angle / (2 * np.pi)) / shaft_hz + 1.0 / (shaft_hz * per_rev)


def valves(unit: Unit, m: Moment, n: int, rate: int, angle: float,
           rng: np.random.Generator) -> np.ndarray:
    """Reciprocating: each cylinder's suction and discharge reeds closing once a revolution
    each; scroll: one discharge per orbit, a softer pulse."""
    f = freqs(n, rate)
    per_rev = 2 * unit.cylinders if unit.kind == "recip" else 1
    times = event_times(unit, m.shaft_hz, n, rate, angle, per_rev)
    times = times + rng.normal(0, 0.0002, len(times))
    level = (0.05 if unit.kind == "recip" else 0.015) * m.drift
    amps = level * rng.uniform(0.75, 1.25, len(times))
    kernel = cached(unit.cache, ("valves", n, rate), lambda: decaying_mode(
        f, min(unit.valve_hz, 0.4 * rate), 0.05, rate) * (0.5 + modes_response(f, unit.housing)))
    return ringing(n, rate, times, amps, kernel)


def gas_noise(unit: Unit, m: Moment, n: int, rate: int, angle: float,
              rng: np.random.Generator) -> np.ndarray:
    """Broadband flow noise through the housing modes, pulsing with the compression cycle."""
    shape = cached(unit.cache, ("gas", n, rate), lambda: band_shape(
        freqs(n, rate), 150, 9000, -3.0) * (0.3 + modes_response(freqs(n, rate), unit.housing)))
    noise = shaped_noise(rng, n, rate, shape) * 0.012 * m.drift
    t = np.arange(n) / rate
    pulses = unit.cylinders if unit.kind == "recip" else 1
    return noise * (1 + 0.35 * np.sin(2 * np.pi * pulses * m.shaft_hz * t + angle))


def pwm(unit: Unit, m: Moment, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    lines = motor.pwm_tones(unit, m.shaft_hz, rate)
    t = np.arange(n) / rate
    return tones(t, [f for f, _ in lines], [a for _, a in lines],
                 list(rng.uniform(0, 2 * np.pi, len(lines))))


def voice(unit: Unit, m: Moment, n: int, rate: int, angle: float,
          rng: np.random.Generator) -> np.ndarray:
    """The running compressor's direct sound (pascal-like units, ~0.05 RMS)."""
    return (tonal(unit, m, n, rate, rng) + valves(unit, m, n, rate, angle, rng)
            + gas_noise(unit, m, n, rate, angle, rng) + pwm(unit, m, n, rate, rng))
