"""The healthy compressor as heard at the microphone: mechanism, valves, gas and motor.

* Mechanism: a periodic waveform locked to the shaft — for a reciprocating machine strong at
  the cylinder order (one compression per cylinder per revolution) and its multiples, for a
  scroll smoother and dominated by the first few orders. The mix is drawn once per unit.
* Valves (reciprocating only): suction and discharge reeds slap their seats once each per
  cylinder per revolution, ringing the valve plate at a few kHz.
* Gas: broadband flow noise through the valves and ports, pulsing with the compression
  events; its level follows the load and the pressure ratio, so it drifts with the outdoor
  temperature and condenser fouling.
* Motor: magnetic hum at twice the supply frequency with harmonics, rotor slot harmonics, an
  inrush growl while starting, the inverter's PWM carrier whine, and the contactor click at a
  start or stop.
The sum passes through the shell and pipework resonances, the mic distance and its
orientation. ``mechanical`` and ``hum`` are pure functions of the operating point so that a
fault model can modulate them without drawing from the healthy stream.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import dsp, seeding
from .machine import Operating
from .units import Unit

ORDERS = 48  # shaft harmonics in the mechanism's mix


def effort(op: Operating) -> float:
    """Relative acoustic effort: more gas pushed against a higher pressure ratio is louder."""
    return math.sqrt(op.ratio / 10.0) * (0.6 + 0.4 * min(op.load, 1.2))


@lru_cache(maxsize=256)
def _mix(unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    g = seeding.rng(unit.seed, unit.device_id, "timbre")
    m = unit.machine
    k = np.arange(1, ORDERS + 1, dtype=float)
    if m.kind == "recip":
        amps = k**-0.7
        amps[(k % m.cylinders) == 0] *= 4.0  # the compression events dominate
        amps[0] *= 1.5
    else:
        amps = np.exp(-k / 6.0) + 0.08 / k
    amps *= 10 ** (g.normal(0.0, 4.0, ORDERS) / 20)
    amps /= np.sqrt(0.5 * np.sum(amps**2))  # unit rms
    return amps, g.uniform(0, 2 * np.pi, ORDERS)


@lru_cache(maxsize=512)
def _wave(unit: Unit, orders: int) -> np.ndarray:
    amps, phases = _mix(unit)
    return dsp.table(amps[:orders], phases[:orders])


def mechanical(unit: Unit, op: Operating) -> np.ndarray:
    """The shaft-locked part of the compressor sound (before the shell and distance)."""
    if not op.turning:
        return np.zeros(op.n)
    orders = max(1, min(ORDERS, int(0.45 * op.fs / (op.shaft_hz * 1.02))))
    level = 0.6 * unit.machine.level * effort(op)
    return level * op.r**2 * dsp.lookup(_wave(unit, orders), op.phi / (2 * np.pi))


HUM_TABLE = dsp.table(np.array([0.0, 1.0, 0.0, 0.35, 0.0, 0.15]),
                      np.array([0.0, 0.0, 0.0, 1.0, 0.0, 2.0]))  # 2x, 4x, 6x supply


def hum(unit: Unit, op: Operating) -> np.ndarray:
    """Motor magnetic noise: 2x supply frequency and harmonics, slot harmonics, PWM whine."""
    m = unit.machine
    if not op.energised.any():
        return np.zeros(op.n)
    inrush = op.energised * (1.0 - op.r)  # slip is large while the rotor accelerates
    amp = m.level * m.hum * (op.energised + 2.5 * inrush)
    line = op.line_phase * (1.0 / (2 * np.pi))
    out = dsp.lookup(HUM_TABLE, line)
    twice = dsp.cosine(2 * line)
    # cos(a + b) + cos(a - b) = 2 cos(a) cos(b): slot harmonics at bars x 1x +/- 2x supply.
    if m.rotor_bars * op.shaft_hz + 2 * op.line_hz < 0.45 * op.fs:
        out += 0.24 * op.r * dsp.cosine(op.phi * (m.rotor_bars / (2 * np.pi))) * twice
    if m.inverter and m.pwm_hz + 2 * op.line_hz < 0.45 * op.fs:
        out += 0.5 * dsp.cosine(m.pwm_hz * op.t) * twice  # carrier +/- 2x output frequency
    return amp * out


@lru_cache(maxsize=64)
def _shell(unit: Unit, n: int, fs: float) -> np.ndarray:
    """Shell/pipe modes, distance and mic orientation (treble lost when facing away)."""
    f = dsp.freqs(n, fs)
    resp = np.ones(f.size, dtype=complex)
    for f0, q, gain in unit.machine.shell:
        resp += gain * dsp.resonance(f, f0, q)
    shelf = np.clip(np.log2(np.maximum(f, 1.0) / 1000.0) / 3.0, 0.0, 1.0)
    resp *= 10 ** (unit.mic.tilt_db * shelf / 20) / unit.mic.distance_m
    return resp


def at_mic(unit: Unit, sound: dsp.Mix, fs: float) -> dsp.Mix:
    """A sound made at the compressor as it arrives at the microphone."""
    return sound.through(_shell(unit, sound.n, fs))


@lru_cache(maxsize=64)
def _valve_modes(unit: Unit, n: int, fs: float) -> np.ndarray:
    f = dsp.freqs(n, fs)
    f0 = unit.machine.valve_hz
    return dsp.resonance(f, f0, 12.0) + 0.5 * dsp.resonance(f, 1.63 * f0, 9.0)


def _valves(unit: Unit, op: Operating, g: np.random.Generator) -> np.ndarray | None:
    """Valve-plate ringing as a spectrum (None for a scroll or a still shaft)."""
    m = unit.machine
    if m.kind != "recip" or not op.turning:
        return None
    # Two events per cylinder per revolution: suction opening and discharge closing.
    cycles = op.phi / (2 * np.pi) * 2 * m.cylinders
    idx = dsp.crossings(cycles)
    kind = np.floor(cycles[idx]).astype(np.int64) % 2
    peak = m.level * effort(op) * 0.5 * np.where(kind == 0, 0.6, 1.0)
    peaks = peak * op.r[idx] ** 2 * np.exp(g.normal(0, 0.2, idx.size))
    area = peaks * 12.0 / (2 * np.pi * m.valve_hz)
    return dsp.ring_spec(op.n, idx, area, _valve_modes(unit, op.n, op.fs), op.fs)


@lru_cache(maxsize=64)
def _gas_shape(unit: Unit, n: int, fs: float) -> np.ndarray:
    f = dsp.freqs(n, fs)
    hi = 4000.0 if unit.machine.kind == "recip" else 6500.0
    return dsp.band(f, 150.0, hi) * (np.maximum(f, 50.0) / 1000.0) ** -0.3


def _gas(unit: Unit, op: Operating, g: np.random.Generator) -> np.ndarray:
    m = unit.machine
    rms = 0.35 * m.level * effort(op)
    noise = dsp.noise_from_shape(g, _gas_shape(unit, op.n, op.fs), op.n, rms)
    depth = 0.6 if m.kind == "recip" else 0.2
    return noise * op.r**2 * (1.0 + depth * np.cos(m.cylinders * op.phi))


def _contactor(unit: Unit, op: Operating) -> np.ndarray:
    out = np.zeros(op.n)
    for at, _ in op.switches:
        tau = op.t - at
        out += dsp.partials(tau, np.array([1900.0, 4300.0, 7100.0]),
                            np.array([0.006, 0.004, 0.002]), np.array([1.0, 0.7, 0.4]),
                            op.fs) * unit.machine.level * 1.5
    return out


def healthy(unit: Unit, op: Operating, g: np.random.Generator) -> dsp.Mix:
    """The healthy compressor at the microphone (silent but for a click if it never turns)."""
    if not op.turning and not op.switches:
        return dsp.Mix(op.n)
    source = dsp.Mix(op.n).add(mechanical(unit, op) + hum(unit, op) + _gas(unit, op, g))
    valves = _valves(unit, op, g)
    if valves is not None:
        source.add_spec(valves)
    out = at_mic(unit, source, op.fs)
    if op.switches:
        out.add(_contactor(unit, op) / unit.mic.distance_m)
    return out
