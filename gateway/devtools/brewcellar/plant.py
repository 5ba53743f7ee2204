"""The rest of the package as the microphone hears it: condenser fans and the glycol pump.

Fans give blade-pass tones (blades times rotation, with harmonics; blade-to-blade differences add
a little of every rotation harmonic) over broadband aerodynamic noise whose power grows with the
fifth power of speed. The centrifugal glycol pump runs around the clock: vane-pass tones, motor
hum and flow noise. After a stop, pressures equalise through the expansion valve: a fading hiss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .dsp import band, db, harmonic_table, lookup, rfft_freqs, shape_rms, shaped_noise, table_index
from .frame import Frame
from .keys import rng_for
from .machine import LEVEL_DB, compressor_tables
from .unit import Unit

FAN_EXTRA_M = 1.2  # the condenser fans sit this much farther from the box than the compressor


@dataclass(frozen=True)
class PlantSound:
    tonal: np.ndarray  # time-domain tones and transients
    noise_power: np.ndarray  # stationary noise power per rfft bin, at level


def _rotor_table(harmonics: int, passes: int, rng: np.random.Generator,
                 per_pass: tuple[float, ...]) -> np.ndarray:
    """A rotor with `passes` blades or vanes: strong multiples of the pass rate, faint others."""
    coeffs = 0.04 * rng.uniform(0.3, 1.0, harmonics + 1).astype(np.complex128)
    for m, amp in enumerate(per_pass, start=1):
        if m * passes <= harmonics:
            coeffs[m * passes] = amp
    coeffs *= np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, harmonics + 1))
    coeffs /= math.sqrt(float(np.sum(np.abs(coeffs[1:]) ** 2)) / 2.0)
    return harmonic_table(coeffs, 2048)


@lru_cache(maxsize=128)
def fan_table(unit: Unit, rate: int) -> np.ndarray:
    harmonics = min(200, int(0.45 * rate / unit.fan_hz))
    rng = rng_for("fan", unit.device_id, unit.seed)
    return _rotor_table(harmonics, unit.fan_blades, rng, (1.0, 0.45, 0.25, 0.12, 0.06))


@lru_cache(maxsize=128)
def pump_table(unit: Unit, rate: int) -> np.ndarray:
    harmonics = min(200, int(0.45 * rate / unit.pump_hz))
    rng = rng_for("pump", unit.device_id, unit.seed)
    return _rotor_table(harmonics, unit.pump_vanes, rng, (1.0, 0.4, 0.15))


@lru_cache(maxsize=32)
def plant_shapes(n: int, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-RMS spectra of fan air noise, pump flow noise and the equalisation hiss."""
    freqs = rfft_freqs(n, rate)
    air = band(freqs, 60, 1200, 1) * band(freqs, 0, 6000, 2)
    flow = band(freqs, 150, 4000, 1)
    hiss = band(freqs, 1200, 7000, 2)
    return air / shape_rms(air), flow / shape_rms(flow), hiss / shape_rms(hiss)


def fan_hz(unit: Unit, speed: float, index: int) -> float:
    """Rotation of one fan: no two run at quite the same speed (motor slip, blade pitch)."""
    return unit.fan_hz * speed * (1.0 + 0.006 * index * (-1) ** index)


def _fans(frame: Frame) -> tuple[np.ndarray, float]:
    unit = frame.unit
    table = fan_table(unit, frame.rate)
    tones = np.zeros(frame.n)
    power = 0.0
    for i, speed in enumerate(frame.op.fan_speeds):
        if speed > 0:
            idx = table_index(frame.phase(fan_hz(unit, speed, i), f"fan{i}"), 2048)
            tones += speed**2.5 * lookup(table, idx)
            power += speed**5
    far = 1.0 / (unit.mic_distance_m + FAN_EXTRA_M)
    return db(LEVEL_DB["fan_tone"]) * far * tones, db(LEVEL_DB["fan_air"]) * far * math.sqrt(power)


def _equalisation(frame: Frame, shape: np.ndarray) -> np.ndarray:
    since = frame.op.since_change_s
    if frame.op.running or since > 90.0:
        return np.zeros(frame.n)
    rng = rng_for("equalise", frame.unit.device_id, frame.unit.seed, frame.key)
    fade = np.exp(-(since + frame.t) / 25.0)
    level = db(LEVEL_DB["equalise"]) / max(frame.unit.mic_distance_m, 0.3)
    return level * fade * shaped_noise(rng, frame.n, shape, 1.0)


def plant_sound(frame: Frame) -> PlantSound:
    unit = frame.unit
    air, flow, hiss = plant_shapes(frame.n, frame.rate)
    fan_tones, fan_air = _fans(frame)
    pump_far = 1.0 / unit.pump_distance_m
    pump_idx = table_index(frame.phase(unit.pump_hz, "pump"), 2048)
    pump = db(LEVEL_DB["pump_tone"]) * pump_far * lookup(pump_table(unit, frame.rate), pump_idx)
    hum = compressor_tables(unit, frame.rate).hum
    pump += db(LEVEL_DB["pump_hum"]) * pump_far * lookup(hum, table_index(frame.mains_phase(),
                                                                           1024))
    power = (fan_air * air) ** 2 + (db(LEVEL_DB["pump_flow"]) * pump_far * flow) ** 2
    return PlantSound(fan_tones + pump + _equalisation(frame, hiss), power)
