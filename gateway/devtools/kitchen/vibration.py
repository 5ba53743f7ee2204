"""The accelerometer on the compressor's shell (or its mounting plate): x, y radial, z axial,
in m/s2.

The pump hangs on internal springs, so the shell carries its forces softly: the
reciprocating unbalance at 1x and 2x, the gas forces at the cylinder rate's harmonics, the
motor's magnetic pull at twice the line, the condenser fan's 1x through the plate, valve
impacts ringing the shell's modes, a little of the neighbours through the floor, and the
sensor's own noise. A healthy unit's velocity RMS over 10-1000 Hz is set to a value in ISO
10816's zones A/B for small machines (0.35-1.2 mm/s; zone B ends at 1.8).
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.kitchen import machine as M
from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.operation import Moment, running_at
from gateway.devtools.kitchen.units import Unit

SENSOR_NOISE = 0.015  # m/s2 RMS, a MEMS accelerometer over its band
# Shares of the healthy velocity energy (10-1000 Hz) by source
_SHARES = {"1x": 0.35, "2x": 0.2, "gas": 0.15, "magnetic": 0.15, "fan": 0.05, "broad": 0.1}


def tone_accel(f: float, v_rms_mm_s: float, cycles: np.ndarray) -> np.ndarray:
    """A sinusoid of velocity RMS v (mm/s) at f, as acceleration (m/s2)."""
    return 2 * np.pi * f * v_rms_mm_s * 1e-3 * 1.41421356 * np.sin(2 * np.pi * cycles)


def _radial_pair(f: float, v: float, t: np.ndarray, phase: float, axes: tuple) -> np.ndarray:
    """A rotating force: x and y in quadrature, z a fraction of it."""
    out = np.empty((3, t.size))
    out[0] = axes[0] * tone_accel(f, v, f * t + phase)
    out[1] = axes[1] * tone_accel(f, v, f * t + phase + 0.25)
    out[2] = axes[2] * tone_accel(f, v, f * t + phase + 0.1)
    return out


def healthy_running(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator) -> np.ndarray:
    v = unit.vib_mm_s * (1.0 + 0.15 * (m.head - 1.0))
    axes = unit.mount_axis_gain
    f0, phase, t = m.shaft_rps, M.shaft_phase(unit, fr.t_s), fr.t
    out = _radial_pair(f0, v * np.sqrt(_SHARES["1x"]), t, phase, axes)
    out += _radial_pair(2 * f0, v * np.sqrt(_SHARES["2x"]), t, 2 * phase, axes)
    harmonics = [k for k in range(3, 11) if k * f0 < 0.45 * fr.rate]
    for k in harmonics:
        share = _SHARES["gas"] / len(harmonics) * (2.0 if k % unit.cylinders == 0 else 0.5)
        out += _radial_pair(k * f0, v * np.sqrt(share), t, g.random(), axes)
    out += _radial_pair(2 * m.mains_hz, v * np.sqrt(_SHARES["magnetic"]), t, g.random(), axes)
    out += _radial_pair(m.fan_rps, v * np.sqrt(_SHARES["fan"]), t, g.random(), axes)
    out += _broadband(unit, m, fr, g, v * np.sqrt(_SHARES["broad"]))
    return out


def _broadband(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, v: float
               ) -> np.ndarray:
    """Flow noise (velocity v in 10-1000 Hz) and the valve impacts ringing the shell's
    bending modes (the gas cavity's mode is acoustic, not the steel's)."""
    out = np.empty((3, fr.n))
    cache = unit.cache.setdefault("vibration", {})
    if (fr.n, fr.rate) not in cache:
        cache[(fr.n, fr.rate)] = P.modal_response(fr.f, unit.shell_modes[1:], fr.rate)
    shell = cache[(fr.n, fr.rate)]
    times, amps = M.valve_times(unit, m.shaft_rps, M.shaft_phase(unit, fr.t_s),
                                fr.n / fr.rate, g)
    rings = P.knocks(fr, times, amps, shell, 0.06)
    for axis, gain in enumerate(unit.mount_axis_gain):
        spec = P.noise_spectrum(g, fr.band(10.0, 1000.0) * fr.f, 1.0)
        spec *= gain * v * 1e-3 / max(_velocity_rms(spec, fr), 1e-12)
        out[axis] = P.to_time(spec + rings * gain, fr.n)
    return out


def _velocity_rms(accel_spec: np.ndarray, fr: P.Frame) -> float:
    band = (fr.f >= 10) & (fr.f <= 1000)
    vel = np.zeros_like(accel_spec)
    vel[band] = accel_spec[band] / (2j * np.pi * fr.f[band])
    return P.spectrum_rms(vel, fr.n)


def velocity_rms_mm_s(accel: np.ndarray, rate: float) -> float:
    """ISO 10816's measure: velocity RMS over 10-1000 Hz (mm/s) of one axis."""
    fr = P.Frame(accel.size, rate, 0.0)
    return 1e3 * _velocity_rms(np.fft.rfft(accel), fr)


def background(unit: Unit, fr: P.Frame, g: np.random.Generator) -> np.ndarray:
    """What the shell feels with its own compressor stopped: the neighbours through the
    floor and wall, and the sensor's noise."""
    out = np.zeros((3, fr.n))
    for other in unit.neighbours:
        if not running_at(other, fr.t_s):
            continue
        from_floor = 0.05 / max(other.distance_m, 1.0)
        f = other.mains_hz * (1 - other.slip_rated)
        out += _radial_pair(f, from_floor, fr.t, g.random(), (1.0, 0.7, 0.3))
    return out
