"""The accelerometer on the discharge-end bearing housing, healthy: tri-axial acceleration in
m/s2 (x, y radial, z axial).

Lines are set as velocities (as ISO 10816-3 / 20816 judge them) and differentiated: 1x and
2x of the male rotor (residual unbalance, the coupling), the lobe-pass pulsation's gas forces
(lobes x speed and harmonics, the largest line on a screw compressor, stronger unloaded), the
female rotor's 1x and the motor's 2x-line magnetic force through the frame. Broadband flow
excitation rings the frame's modes, the bearings add a little high-frequency noise, and the
sensor its floor. Healthy units land at 1.2-3 mm/s RMS (10-1000 Hz): zone A/B for a large
machine. Stopped, the housing only carries what the floor brings from the other machines.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.screwhall.machine import electrical
from gateway.devtools.screwhall.operation import Moment
from gateway.devtools.screwhall.pieces import band, comb, noise_spectrum, resonance, rng_for, tones
from gateway.devtools.screwhall.units import Unit

AXIS_GAIN = np.array([1.0, 0.8, 0.45])  # radial x, radial y, axial z
SENSOR_FLOOR = 0.004  # m/s2 RMS of the accelerometer's own noise
HARMONICS = 60


def velocity_to_accel(v_mm_s: np.ndarray, f_hz: np.ndarray) -> np.ndarray:
    return np.asarray(v_mm_s) * 1e-3 * 2 * np.pi * np.asarray(f_hz)


def _profile(unit: Unit) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-axis velocity amplitudes (mm/s peak) of the rotation harmonics, their phases, and
    the unit's overall level (mounting, foundation: x0.75-1.4)."""
    key = "vib_profile"
    if key not in unit.cache:
        rng = rng_for("screwhall-vib", unit.device_id, unit.seed)
        k = np.arange(1, HARMONICS + 1)
        order = k / unit.male_lobes
        lobe = np.where(k % unit.male_lobes == 0, 1.6 * order ** -1.2, 0.0)
        base = lobe + np.where(k == 1, 1.3, 0.0) + np.where(k == 2, 0.6, 0.0) + 0.03 / k
        amps = base[None, :] * AXIS_GAIN[:, None] * rng.uniform(0.6, 1.4, (3, k.size))
        phases = rng.uniform(0, 2 * np.pi, (3, k.size))
        phases[1, 0] = phases[0, 0] + np.pi / 2  # 1x is elliptical in the radial plane
        unit.cache[key] = (amps, phases, float(rng.uniform(0.75, 1.4)))
    return unit.cache[key]


def _frame_shape(unit: Unit, n: int, rate: int) -> np.ndarray:
    key = ("frame", n, rate)
    if key not in unit.cache:
        freqs = np.fft.rfftfreq(n, 1 / rate)
        shape = 0.15 * band(freqs, 20.0, 0.45 * rate, 4.0)
        for f0, q in unit.frame_modes:
            shape = shape + resonance(freqs, f0, q) * (f0 < 0.45 * rate)
        unit.cache[key] = shape * band(freqs, 5.0, 0.45 * rate, 6.0)
    return unit.cache[key]


def _running(unit: Unit, m: Moment, t_s: float, n: int, rate: int, rng: np.random.Generator
             ) -> np.ndarray:
    amps, phases, level = _profile(unit)
    t = np.arange(n) / rate
    k = np.arange(1, HARMONICS + 1)
    f = m.speed_hz
    mismatch = max(0.0, 0.6 - m.slide)
    lobe = k % unit.male_lobes == 0
    load = np.where(lobe, (0.55 + 0.45 * m.slide) * (1 + mismatch), 1.0) * (f / 50.0) ** 1.5
    cycles = np.mod(f * t_s, 1.0) + f * t
    e = electrical(unit, m)
    female = f * unit.male_lobes / unit.female_lobes
    extra_f = np.array([female, 2 * e.line_hz])
    out = np.empty((3, n))
    for axis in range(3):
        accel = velocity_to_accel(level * amps[axis] * load, k * f)
        out[axis] = comb(accel, phases[axis], cycles, f, rate)
        extra = velocity_to_accel(level * AXIS_GAIN[axis] * np.array([0.35, 0.3]), extra_f)
        out[axis] += tones(extra_f, extra, phases[axis, :2] + 2 * np.pi * np.mod(extra_f * t_s, 1),
                           t, rate)
        flow = 0.25 * level * (0.4 + 0.6 * m.slide) * (f / 50.0) ** 2 * AXIS_GAIN[axis]
        out[axis] += np.fft.irfft(noise_spectrum(rng, flow * _frame_shape(unit, n, rate), n), n)
    return out


def _floor_borne(unit: Unit, t_s: float, n: int, rate: int) -> np.ndarray:
    """The neighbours' lobe pass through the floor, tiny but present."""
    t = np.arange(n) / rate
    out = np.zeros((3, n))
    for nb in unit.neighbours:
        f = nb.lobes * nb.speed_hz
        a = velocity_to_accel(np.array([0.06 * nb.level]), np.array([f]))
        for axis in range(3):
            out[axis] += tones(np.array([f]), a * AXIS_GAIN[axis], np.array([axis + nb.index]) +
                               2 * np.pi * np.mod(f * t_s, 1), t, rate)
    return out


def healthy_vibration(unit: Unit, m: Moment, t_s: float, n: int) -> np.ndarray:
    rate = unit.vib_rate
    rng = rng_for("screwhall-vib-window", unit.device_id, unit.seed, round(t_s * 1000), m.running)
    out = _floor_borne(unit, t_s, n, rate)
    if m.running:
        out += _running(unit, m, t_s, n, rate, rng)
    return out + SENSOR_FLOOR * rng.standard_normal((3, n))
