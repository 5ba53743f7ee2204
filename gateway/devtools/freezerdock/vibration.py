"""Healthy vibration of the compressor shell, in the machine's frame and the box's.

Machine frame: radial horizontal (H), radial vertical (V), axial (A), in m/s^2.

* Rotation lines: residual imbalance at 1x (an ellipse in H/V, forces growing with speed
  squared), a little 2x and 3x.
* Gas pulsation: for a reciprocating machine strong lines at the cylinder order and its
  multiples, mostly along the cylinders (V); a scroll is far smoother.
* Motor: magnetic pull at 2x supply frequency.
* Blade pass: the condenser fan's blade-pass line, carried by the frame.
* Broadband: flow and mechanical noise exciting the shell's structural modes, shaped by the
  accelerometer's mount resonance and anti-alias filter.
* Site: floor-borne rumble and the thumps of forklifts and pallets, present when stopped too.
* Sensor: the accelerometer's white noise floor, in the box's own axes.
``tonal`` is a pure function of the operating point, so looseness can truncate it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import dsp, events, seeding
from .compressor_sound import effort
from .machine import Operating
from .units import Unit

G0 = 9.80665


@lru_cache(maxsize=256)
def _orders(unit: Unit) -> np.ndarray:
    """Complex amplitudes (3 axes x K orders) at 25 Hz shaft speed and unit effort."""
    g = seeding.rng(unit.seed, unit.device_id, "vib-orders")
    m = unit.machine
    k_max = max(10, 2 * m.cylinders + 2)
    coef = np.zeros((3, k_max), dtype=complex)
    a1 = unit.accel.one_x
    ellipse = g.uniform(0.6, 1.3)
    coef[:, 0] = a1 * np.array([1.0, -1j * ellipse, 0.2 * np.exp(1j * g.uniform(0, 6.3))])
    rand = np.exp(1j * g.uniform(0, 2 * np.pi, (3, k_max)))
    coef[:, 1] += 0.3 * a1 * np.array([1.0, 0.8, 0.3]) * rand[:, 1]
    coef[:, 2] += 0.12 * a1 * np.array([1.0, 1.0, 0.3]) * rand[:, 2]
    if m.kind == "recip":
        gas = g.uniform(0.3, 1.5)
        for mult, share in ((1, 1.0), (2, 0.4)):
            k = mult * m.cylinders - 1
            coef[:, k] += gas * share * np.array([0.5, 1.0, 0.2]) * rand[:, k]
    else:
        coef[:, 0] += 0.1 * np.array([1.0, 1.0, 0.2]) * rand[:, 0]
    return coef


@lru_cache(maxsize=512)
def _tables(unit: Unit, k_max: int) -> np.ndarray:
    """Wavetables (6 rows: H, V, A of the mechanical lines, then of the gas-force lines)."""
    coef = _orders(unit)[:, :k_max].copy()
    gas = np.zeros_like(coef)
    if unit.machine.kind == "recip":
        step = unit.machine.cylinders
        gas[:, step - 1 :: step] = coef[:, step - 1 :: step]
        coef[:, step - 1 :: step] = 0.0
    rows = [dsp.table(np.abs(c), np.angle(c)) for c in (*coef, *gas)]
    return np.stack(rows)


def tonal(unit: Unit, op: Operating) -> np.ndarray:
    """Shaft-locked lines in the machine frame (3, n); gas-force lines follow the effort."""
    if not op.turning:
        return np.zeros((3, op.n))
    k_max = max(1, min(_orders(unit).shape[1], int(0.45 * op.fs / (op.shaft_hz * 1.02))))
    rows = dsp.lookup_rows(_tables(unit, k_max), op.phi * (1.0 / (2 * np.pi)))
    speed = (op.shaft_hz / 25.0) ** 2 * op.r**2
    return (rows[:3] + effort(op) * rows[3:]) * speed


@lru_cache(maxsize=64)
def structure(unit: Unit, n: int, fs: float) -> np.ndarray:
    """Structural modes below the anti-alias corner, the mount resonance and the filter."""
    f = dsp.freqs(n, fs)
    modes = np.zeros(f.size, dtype=complex)
    for f0, q, gain in unit.accel.resonances:
        if f0 < 0.45 * fs:
            modes += gain * dsp.resonance(f, f0, q)
    x = f / unit.accel.mount_hz
    mount = 1.0 / (1.0 - x * x + 1j * x / 8.0)
    return modes * mount * dsp.lowpass(f, 0.45 * fs, 8)


@lru_cache(maxsize=64)
def _broad(unit: Unit, n: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    f = dsp.freqs(n, fs)
    flow = dsp.band(f, 20.0, 2000.0) * (1.0 + 3.0 * np.abs(structure(unit, n, fs)))
    rumble = dsp.band(f, 3.0, 120.0, 2)
    return flow * dsp.lowpass(f, 0.45 * fs, 8), rumble


def _lines(unit: Unit, op: Operating) -> np.ndarray:
    """Motor 2x-line pull and the fan's blade pass, radial mostly."""
    m = unit.machine
    mag = 0.05 + 0.25 * m.hum
    out = mag * op.energised * dsp.cosine(op.line_phase * (1.0 / np.pi))
    if m.fan_blades * op.fan_hz < 0.45 * op.fs:
        out += 0.03 * op.fan**2 * dsp.cosine(op.fan_phase * (m.fan_blades / (2 * np.pi)))
    return np.array([0.8, 1.0, 0.3])[:, None] * out


def _thumps(unit: Unit, op: Operating) -> np.ndarray:
    out = np.zeros(op.n)
    kind = events.Kind("thump", 20.0, 1.0, lambda a: 0.8 * a)
    for ev in events.in_window(unit, kind, op.t0, op.t0 + op.n / op.fs):
        p = ev.params
        hz, amp, decay = p.uniform(8, 40), p.uniform(0.02, 0.3), p.uniform(0.1, 0.3)
        i0, i1, tau = events.span(op.t0, op.n, op.fs, ev.start, 1.0)
        out[i0:i1] += dsp.partials(tau, np.array([hz]), np.array([decay]), np.array([amp]),
                                   op.fs)
    return np.array([0.4, 1.0, 0.3])[:, None] * out


def healthy(unit: Unit, op: Operating, g: np.random.Generator) -> np.ndarray:
    """Healthy machine-frame vibration (3, n), m/s^2, without the sensor's own noise."""
    flow, rumble = _broad(unit, op.n, op.fs)
    site = np.stack([dsp.scaled(rumble, op.n, unit.accel.rumble * w) for w in (0.6, 1.0, 0.5)])
    out = _thumps(unit, op)
    if not (op.turning or op.energised.any()):
        return out + dsp.noise(g, site, op.n)
    rms = 0.15 * effort(op)
    machine = np.stack([dsp.scaled(flow, op.n, rms * w) for w in (0.8, 1.0, 0.5)])
    level = op.r**2
    if level.min() == level.max():  # steady running: one draw for site and machine noise
        out += dsp.noise(g, np.sqrt(site**2 + (level[0] * machine) ** 2), op.n)
    else:
        out += dsp.noise(g, site, op.n) + dsp.noise(g, machine, op.n) * level
    return out + tonal(unit, op) + _lines(unit, op)


def to_box(unit: Unit, hva: np.ndarray) -> np.ndarray:
    """Machine frame (H, V, A) to the box's (x, y, z): the fixed rotation of its mounting."""
    return np.array(unit.accel.rotation).reshape(3, 3) @ hva


def sensor_noise(unit: Unit, n: int, fs: float, g: np.random.Generator) -> np.ndarray:
    """White noise at the accelerometer's noise density over its bandwidth (3, n), m/s^2."""
    return unit.accel.noise_g * G0 * math.sqrt(fs / 2.0) * g.standard_normal((3, n))
