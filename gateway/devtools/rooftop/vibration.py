"""The accelerometer on the compressor's shell: rotation orders (residual unbalance, the
compression's torque swing, the magnetic pull), the fan's blade pass through the cabinet,
the rubber grommets' own resonance, gas noise ringing the shell, the neighbours through the
roof and the sensor's floor. Healthy levels sit in ISO 10816 zone A/B for a small machine
(about 0.5-1.2 mm/s RMS, 10-1000 Hz).
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.rooftop.operation import Moment
from gateway.devtools.rooftop.pieces import (
    band,
    comb,
    filtered,
    freqs,
    harmonics_below,
    impulses,
    peak,
    periodic_times,
    rng,
    running_phase,
    shaped_noise,
    times,
)
from gateway.devtools.rooftop.units import Unit

SENSOR_FLOOR = 0.015  # m/s^2 RMS over the band (a piezo accelerometer and its ADC)
VALVE_PEAK = 3.0  # m/s^2 a reciprocator's valve closures ring the shell with
AXIS_GAIN = (1.0, 0.9, 0.45)  # radial x, radial y, axial z of the rotation orders


def ring_resonance(unit: Unit) -> float:
    """The shell mode impacts ring: the lowest one the sample rate can carry."""
    usable = [f0 for f0, _, _ in unit.shell_modes if f0 < 0.4 * unit.vib_rate]
    return usable[0] if usable else 0.3 * unit.vib_rate


def velocity_to_accel(v_mm_s: np.ndarray, hz: np.ndarray) -> np.ndarray:
    """Peak acceleration (m/s^2) of a tone with RMS velocity v (mm/s) at hz."""
    return v_mm_s * 1e-3 * np.sqrt(2) * 2 * np.pi * hz


def order_levels(unit: Unit, count: int) -> np.ndarray:
    """RMS velocity (mm/s) of shaft orders 1..count."""
    v1, v2, v3 = unit.vib_levels
    k = np.arange(1, count + 1, dtype=float)
    v = v3 / k ** 1.2
    v[0], v[1:2] = v1, v2
    if unit.cylinders > 2 and count >= unit.cylinders:
        v[unit.cylinders - 1] += v3
    if unit.kind == "rotary_inverter":  # the rolling piston's torque swing
        v[unit.cylinders - 1] += 0.5 * v1
    return v


def shaft_turns(moment: Moment, n: int, rate: int, g: np.random.Generator) -> np.ndarray:
    t = times(n, rate)
    hz = moment.shaft_hz * (1 + 0.002 * np.sin(2 * np.pi * 0.6 * t + g.uniform(0, 6.3)))
    return running_phase(float(g.random()), hz, n, rate)


def _orders(unit: Unit, moment: Moment, turns: np.ndarray, rate: int,
            g: np.random.Generator) -> np.ndarray:
    count = harmonics_below(moment.shaft_hz, rate / 2, 12)
    k = np.arange(1, count + 1)
    accel = velocity_to_accel(order_levels(unit, count), k * moment.shaft_hz)
    base = g.uniform(0, 2 * np.pi, count)
    out = np.empty((3, turns.size))
    for axis, (gain, lag) in enumerate(zip(AXIS_GAIN, (0.0, -np.pi / 2, 1.0), strict=True)):
        spread = g.uniform(0.85, 1.15, count)
        out[axis] = comb(turns, gain * spread * accel, base + lag * k + g.normal(0, 0.2, count))
    return out


def _broadband(unit: Unit, moment: Moment, n: int, rate: int, g: np.random.Generator
               ) -> np.ndarray:
    f = freqs(n, rate)
    out = np.empty((3, n))
    for axis in range(3):
        mount = peak(f, unit.mount_hz[axis], 6.0) * band(f, 2, 200, 1)
        shell = sum(peak(f, min(f0, 0.4 * rate), q) for f0, q, _ in unit.shell_modes)
        running = 0.06 * mount + 0.05 * shell * band(f, 300, 0.45 * rate, 2)
        level = (0.15 + 0.15 * moment.load) if moment.running else 0.0
        out[axis] = shaped_noise(g, n, rate, running, level) if level else 0.0
        out[axis] += g.normal(0, SENSOR_FLOOR, n)
    return out


def _valve_knocks(unit: Unit, moment: Moment, turns: np.ndarray, g: np.random.Generator
                  ) -> np.ndarray:
    """Each compression's valve closure (a reciprocator's reeds slam; a scroll's or a
    rotary's discharge check valve is gentler) rings the shell: a healthy, periodic
    impact train at the compression frequency."""
    n, rate = turns.size, unit.vib_rate
    per_turn = unit.cylinders
    at = periodic_times(moment.shaft_hz * per_turn, n / rate, float(turns[0]) * per_turn,
                        0.01, g)
    f = freqs(n, rate)
    x = filtered(impulses(n, rate, at, g.uniform(0.7, 1.0, at.size)),
                 peak(f, ring_resonance(unit), 10.0) + 0.5 * peak(f, 0.6 * ring_resonance(unit), 6))
    top = float(np.max(np.abs(x))) or 1.0
    level = VALVE_PEAK * (1.0 if unit.kind.startswith("recip") else 0.3)
    return np.array([[0.8], [0.6], [1.0]]) * (level * x / top)


def _neighbours_through_roof(unit: Unit, n: int, rate: int, g: np.random.Generator
                             ) -> np.ndarray:
    t = times(n, rate)
    out = np.zeros((3, n))
    for nb in unit.neighbours[:2]:
        a = velocity_to_accel(np.array(0.05 * nb.level), np.array(nb.shaft_hz))
        out += a * np.cos(2 * np.pi * nb.shaft_hz * t + g.uniform(0, 6.3, (3, 1)))
    return out


def healthy_vibration(unit: Unit, moment: Moment, t_s: float, n: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(3, n) acceleration in m/s^2 and the shaft's turns (zeros when stopped)."""
    rate = unit.vib_rate
    g = rng("vibration", unit.device_id, unit.seed, t_s)
    xyz = _broadband(unit, moment, n, rate, g) + _neighbours_through_roof(unit, n, rate, g)
    if not moment.running:
        return xyz, np.zeros(n)
    turns = shaft_turns(moment, n, rate, g)
    xyz += _orders(unit, moment, turns, rate, g) + _valve_knocks(unit, moment, turns, g)
    t = times(n, rate)
    hum = 2 * unit.mains_hz if not unit.pwm_hz else moment.shaft_hz * unit.poles
    if hum < 0.45 * rate:
        xyz += velocity_to_accel(np.array(0.08), np.array(hum)) * \
            np.cos(2 * np.pi * hum * t + g.uniform(0, 6.3, (3, 1)))
    for i, fan in enumerate(unit.fans):
        bpf = moment.fan_rps[i] * fan.blades
        if bpf > 0:
            xyz += velocity_to_accel(np.array(0.04), np.array(bpf)) * \
                np.cos(2 * np.pi * bpf * t + g.uniform(0, 6.3, (3, 1)))
    return xyz, turns
