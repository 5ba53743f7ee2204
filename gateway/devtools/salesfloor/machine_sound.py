"""Airborne sound of a condensing unit: the hermetic compressor and its two fans.

Compressor: the motor's and pistons' forces at the shaft speed and its harmonics (a rich series
for a piston's once-per-revolution gas pulse, a smoother one for a rolling piston), the 2x
mains magnetic hum of an induction motor (or an inverter's PWM whine), reed valves ticking
once per revolution and ringing the shell's modes, and the shell's broadband radiation.
Fans: the blade-pass tone (blades x rotation) with its harmonic over a broadband of turbulent
flow; the condenser fan sits beside the compressor, the evaporator fan inside the case.
Neighbouring cases are heard through the air, their high frequencies absorbed on the way.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import thermostat
from .mix import Mix
from .seeding import uniform
from .spectral import (
    band,
    bin_freqs,
    cycles_at,
    impulse_train,
    read_table,
    resonance,
    ringing,
    wavetable,
)
from .units import Unit


@lru_cache(maxsize=1024)
def _phases(unit: Unit, count: int, label: str) -> tuple[float, ...]:
    return tuple(2 * np.pi * uniform(label, unit.device_id, k) for k in range(count))


@lru_cache(maxsize=64)
def shell_gain(unit: Unit, frames: int, rate: int) -> np.ndarray:
    """The shell's radiation: its modes over a gently falling floor (kept per unit)."""
    freqs = bin_freqs(frames, rate)
    gain = 0.25 * band(freqs, 150.0, 6000.0, order=1)
    for centre, q in unit.shell_modes:
        gain = gain + resonance(freqs, centre, q)
    gain.setflags(write=False)
    return gain


def compressor_tones(unit: Unit, mix: Mix, t_s: float, shaft: float, level: float,
                     cutoff_hz: float, near: bool) -> None:  # fmt: skip
    """The shaft-harmonic comb (weighted by a path low-pass at cutoff_hz) and the motor hum."""
    k = np.arange(1, len(unit.harmonics) + 1)
    path = 1.0 / np.sqrt(1.0 + (k * shaft / cutoff_hz) ** 4)
    # Rounded so a unit's table is reused from window to window as its speed wanders.
    amps = tuple(round(float(a), 3) for a in np.asarray(unit.harmonics) * path)
    table = wavetable(amps, _phases(unit, len(amps), "harm"))
    wave = read_table(table, cycles_at(t_s, mix.frames, mix.rate, shaft)) * level
    # Twice the motor's electrical frequency: mains, or on an inverter the shaft speed itself.
    hum_hz = 2.0 * (shaft if unit.inverter else unit.mains_hz)
    hum = np.sin(2 * np.pi * cycles_at(t_s, mix.frames, mix.rate, hum_hz))
    wave += hum * level * 0.25 / np.sqrt(1.0 + (hum_hz / cutoff_hz) ** 4)
    mix.add_wave(wave, near)


def inverter_whine(unit: Unit, mix: Mix, t_s: float, shaft: float, level: float) -> None:
    """PWM carrier of the drive (2.5-8 kHz) with sidebands at twice the motor frequency."""
    carrier = 2500.0 + 5500.0 * uniform("carrier", unit.device_id)
    if carrier > 0.45 * mix.rate:
        carrier = 0.3 * mix.rate
    wave = np.zeros(mix.frames)
    for side, amp in ((0.0, 1.0), (-2.0, 0.4), (2.0, 0.4)):
        f = carrier + side * shaft
        wave += amp * np.sin(2 * np.pi * cycles_at(t_s, mix.frames, mix.rate, f))
    mix.add_wave(wave * level * 0.04)


def valve_ticks(unit: Unit, mix: Mix, t_s: float, shaft: float, level: float,
                rng: np.random.Generator) -> None:  # fmt: skip
    """Suction and discharge reeds slap their seats once per revolution each; the impact
    rings the valve plate and the shell. A rotary has only a discharge reed, softer."""
    ring = ringing(mix.freqs, unit.valve_ring_hz, 12.0) + 0.5 * shell_gain(
        unit, mix.frames, mix.rate
    )
    strength = 1.0 if unit.compressor == "reciprocating" else 0.35
    ticks = impulse_train(rng, mix.frames, mix.rate, shaft, 0.004, t_s)
    if unit.compressor == "reciprocating":  # the suction reed opens half a turn later
        ticks += 0.6 * impulse_train(rng, mix.frames, mix.rate, shaft, 0.004, t_s + 0.5 / shaft)
    mix.add_impacts(ticks * level * strength * 0.5, ring)


def own_compressor(unit: Unit, mix: Mix, t_s: float, rng: np.random.Generator) -> float:
    """The unit's own running compressor; returns its shaft speed for faults to use."""
    shaft = thermostat.shaft_hz(unit, t_s)
    level = unit.compressor_level * (1.0 + 0.3 * thermostat.fouling(unit, t_s))
    compressor_tones(unit, mix, t_s, shaft, level, cutoff_hz=20000.0, near=True)
    valve_ticks(unit, mix, t_s, shaft, level, rng)
    roughness = 1.0 + 0.05 * thermostat.age_years(unit, t_s)  # about +0.4 dB a year
    mix.add_noise(shell_gain(unit, mix.frames, mix.rate), level * 0.25 * roughness)
    if unit.inverter:
        inverter_whine(unit, mix, t_s, shaft, level)
    return shaft


def condenser_fan_hz(unit: Unit, t_s: float) -> float:
    """A shaded-pole fan slows a little as a dusty coil raises the pressure it works against."""
    return unit.cond_fan_hz * (1.0 - 0.03 * thermostat.fouling(unit, t_s))


def fan_sound(unit: Unit, mix: Mix, t_s: float, rng: np.random.Generator, which: str,
              level: float, near: bool = True) -> None:  # fmt: skip
    """A fan's blade-pass tone, its harmonic, a faint 1x and the flow's broadband."""
    if which == "condenser":
        blades, hz = unit.cond_fan_blades, condenser_fan_hz(unit, t_s)
    else:
        blades, hz = unit.evap_fan_blades, unit.evap_fan_hz
    amps = np.zeros(2 * blades)
    amps[0] = 0.05
    amps[blades - 1], amps[2 * blades - 1] = 1.0, 0.35
    table = wavetable(tuple(float(a) for a in amps), _phases(unit, amps.size, which))
    mix.add_wave(read_table(table, cycles_at(t_s, mix.frames, mix.rate, hz)) * level, near)
    mix.add_noise(mix.band(150.0, 2500.0, order=1), level * 0.8, near)


def neighbour_compressor(other: Unit, mix: Mix, t_s: float, rng: np.random.Generator) -> None:
    """A neighbouring case's running compressor and condenser fan, heard at a distance."""
    shaft = thermostat.shaft_hz(other, t_s)
    level = other.compressor_level
    compressor_tones(other, mix, t_s, shaft, level, cutoff_hz=1200.0, near=False)
    gain = shell_gain(other, mix.frames, mix.rate) * mix.band(0.0, 1500.0, order=2)
    mix.add_noise(gain, level * 0.2, near=False)
    fan_sound(other, mix, t_s, rng, "condenser", level * 0.3, near=False)
