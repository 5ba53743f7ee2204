"""The accelerometer on the monitored compressor's foot (x, y radial, z axial), m/s²: the
machine's shaft-order lines scaled to the unit's healthy velocity (ISO 10816 zone A/B), the
neighbours through the shared frame, valve and flow impacts ringing the structure, the
sensor's floor. Lines are built as velocity and synthesised at a low rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.rackhall import motor
from gateway.devtools.rackhall.operation import Moment
from gateway.devtools.rackhall.pieces import (
    band_shape,
    decaying_mode,
    freqs,
    low_rate,
    ringing,
    shaped_noise,
    upsample,
)
from gateway.devtools.rackhall.units import Unit

G = 9.80665


@dataclass
class Lines:
    """Velocity lines: Hz, amplitude mm/s per axis (L, 3), phase per axis (L, 3)."""
    hz: list
    amps: list
    phases: list

    def add(self, hz: float, amps, phases) -> None:
        self.hz.append(hz)
        self.amps.append(np.broadcast_to(np.asarray(amps, dtype=float), (3,)).copy())
        self.phases.append(np.broadcast_to(np.asarray(phases, dtype=float), (3,)).copy())


def machine_lines(unit: Unit, m: Moment, angle: float, rng: np.random.Generator) -> Lines:
    """Unscaled: residual unbalance (1x, radial in quadrature), 2x, gas-torque reaction at the
    pulsation orders, higher orders, magnetic 2 fe."""
    lines = Lines([], [], [])
    quad = np.array([0.0, np.pi / 2, 0.3])
    lines.add(m.shaft_hz, [1.0, 0.9, 0.3], angle + quad)
    lines.add(2 * m.shaft_hz, [0.3, 0.25, 0.2], 2 * angle + quad + rng.uniform(0, 6, 3))
    pulse = unit.cylinders if unit.kind == "recip" else 1
    torque = 0.7 if unit.kind == "recip" else 0.25
    for k in (1, 2, 3):
        lines.add(k * pulse * m.shaft_hz, np.array([0.8, 0.5, 0.3]) * torque / k,
                  rng.uniform(0, 2 * np.pi, 3))
    for order in range(3, 9):
        lines.add(order * m.shaft_hz, rng.uniform(0.02, 0.08, 3), rng.uniform(0, 2 * np.pi, 3))
    lines.add(2 * motor.electrical_hz(unit, m.shaft_hz), [0.12, 0.12, 0.05],
              rng.uniform(0, 2 * np.pi, 3))
    return lines


def band_rms(lines: Lines, lo: float = 10.0, hi: float = 1000.0) -> np.ndarray:
    """Velocity RMS per axis of the lines inside [lo, hi] (distinct frequencies add in power)."""
    inside = [a for f, a in zip(lines.hz, lines.amps, strict=True) if lo <= f <= hi]
    return np.sqrt(np.sum(np.square(inside), axis=0) / 2) if inside else np.zeros(3)


def scaled(lines: Lines, factor: np.ndarray) -> Lines:
    return Lines(list(lines.hz), [a * factor for a in lines.amps], list(lines.phases))


def healthy_lines(unit: Unit, m: Moment, angle: float, rng: np.random.Generator) -> Lines:
    """The machine's lines scaled so the worst axis reads the unit's velocity for this load."""
    lines = machine_lines(unit, m, angle, rng)
    target = unit.vib_target_mm_s * (0.8 + 0.4 * m.load / unit.rack_size) * m.drift
    return scaled(lines, unit.vib_axes * target / float(np.max(band_rms(lines) * unit.vib_axes)))


def frame_lines(unit: Unit, m: Moment, rng: np.random.Generator) -> Lines:
    """The running neighbours through the rack frame: their 1x and pulsation at ~1 mm/s
    times the coupling."""
    lines = Lines([], [], [])
    for other, hz in m.neighbours_on:
        amp = other.coupling * np.array([1.0, 0.8, 0.4])
        lines.add(hz, amp, rng.uniform(0, 2 * np.pi, 3))
        lines.add(other.cylinders * hz, amp * 0.6, rng.uniform(0, 2 * np.pi, 3))
    return lines


def synthesise(lines: Lines, n: int, rate: int) -> np.ndarray:
    """(3, n) acceleration m/s² of velocity lines, synthesised at a low rate."""
    factor, lo_rate = low_rate(rate, floor=2560, most=10)
    t = np.arange(n // factor) / lo_rate
    out = np.zeros((3, len(t)))
    keep = [i for i, f in enumerate(lines.hz) if 0 < f < 0.45 * lo_rate]
    if keep:
        hz = np.array([lines.hz[i] for i in keep])
        accel = np.array([lines.amps[i] for i in keep]) * 1e-3 * 2 * np.pi * hz[:, None]
        phase = np.array([lines.phases[i] for i in keep])
        arg = 2 * np.pi * hz[:, None] * t[None, :]
        c, s = np.cos(arg), np.sin(arg)
        out = (accel * np.cos(phase)).T @ c - (accel * np.sin(phase)).T @ s
    return np.stack([upsample(axis, n) for axis in out])


def structure(unit: Unit, m: Moment, n: int, rate: int, angle: float,
              rng: np.random.Generator) -> np.ndarray:
    """Valve closures and flow ringing the structure; broadband above 1 kHz (m/s²)."""
    f = freqs(n, rate)
    per_rev = 2 * unit.cylinders if unit.kind == "recip" else 1
    revs = m.shaft_hz * n / rate
    times = (np.arange(int(revs * per_rev) + 1) + angle / (2 * np.pi)) / (per_rev * m.shaft_hz)
    kernel = decaying_mode(f, unit.vib_res_hz * 0.7, 0.08, rate)
    level = 2.0 if unit.kind == "recip" else 0.6
    impacts = ringing(n, rate, times, level * rng.uniform(0.6, 1.4, len(times)), kernel)
    floor = band_shape(f, 1000, 0.45 * rate, 0.0)
    return np.stack([impacts * w + shaped_noise(rng, n, rate, floor) * 0.6
                     for w in (0.7, 1.0, 0.4)])


def healthy_vibration(unit: Unit, m: Moment, n: int, rate: int, angle: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, Lines]:
    """(3, n) m/s² and the machine's scaled lines (the faults are sized against them)."""
    frame = synthesise(frame_lines(unit, m, rng), n, rate)
    sensor = rng.normal(0, 0.004, (3, n))
    if not m.running:
        return frame + sensor, Lines([], [], [])
    lines = healthy_lines(unit, m, angle, rng)
    return synthesise(lines, n, rate) + structure(unit, m, n, rate, angle, rng) + frame \
        + sensor, lines


def payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    """The box's JSON document (INTERFACES.md), in the unit's own unit."""
    values = xyz / G if unit.vib_unit == "g" else xyz
    digits = 7 if unit.vib_unit == "g" else 5
    return {"ts": t_s, "sample_rate": unit.vib_rate, "unit": unit.vib_unit,
            **{axis: np.round(values[i], digits).tolist() for i, axis in enumerate("xyz")}}
