"""The six vibration faults on the compressor's shell. Bearing defects are impacts at the
defect frequency of the main bearing's geometry (outer race fixed in the load zone, inner
race carried through it once a turn, a ball striking both races and carried by the cage)
ringing a shell resonance; unbalance, misalignment and looseness are the rotation orders
they are known by. At severity 1 the overall velocity reaches ISO 10816 zone C/D.
"""

from __future__ import annotations

from collections.abc import Callable

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
    shaped_noise,
)
from gateway.devtools.rooftop.units import Unit
from gateway.devtools.rooftop.vibration import ring_resonance, velocity_to_accel

VibFault = Callable[[Unit, Moment, np.ndarray, np.random.Generator, float], np.ndarray]
IMPACT_PEAK = 25.0  # m/s^2 of a severe defect's ring (~2.5 g)
AXIS_SHARE = np.array([[1.0], [0.7], [0.35]])


def _ringing(unit: Unit, turns: np.ndarray, at: np.ndarray, amps: np.ndarray,
             g: np.random.Generator, s: float) -> np.ndarray:
    n, rate = turns.size, unit.vib_rate
    f = freqs(n, rate)
    x = filtered(impulses(n, rate, at, amps), peak(f, ring_resonance(unit), 18.0))
    top = float(np.max(np.abs(x))) or 1.0
    ring = IMPACT_PEAK * s ** 1.5 * x / top  # a spall grows: its impacts faster still
    rough = shaped_noise(g, n, rate, band(f, 1000, 0.45 * rate, 1.0), 1.5 * s * s)
    return AXIS_SHARE * (ring + rough)


def _defect_times(unit: Unit, m: Moment, turns: np.ndarray, per_turn: float,
                  g: np.random.Generator) -> np.ndarray:
    return periodic_times(m.shaft_hz * per_turn, turns.size / unit.vib_rate,
                          float(turns[0]) * per_turn, 0.008, g)


def _turns_at(turns: np.ndarray, at: np.ndarray, rate: int) -> np.ndarray:
    idx = np.clip(np.round(at * rate).astype(np.int64), 0, turns.size - 1)
    return turns[idx]


def bearing_outer(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
                  s: float) -> np.ndarray:
    at = _defect_times(unit, m, turns, unit.bearing.bpfo, g)
    return _ringing(unit, turns, at, g.uniform(0.85, 1.0, at.size), g, s)


def bearing_inner(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
                  s: float) -> np.ndarray:
    at = _defect_times(unit, m, turns, unit.bearing.bpfi, g)
    zone = 0.25 + 0.75 * np.clip(np.cos(2 * np.pi * _turns_at(turns, at, unit.vib_rate)), 0, 1)
    return _ringing(unit, turns, at, zone * g.uniform(0.85, 1.0, at.size), g, s)


def bearing_ball(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
                 s: float) -> np.ndarray:
    """A spalled ball hits the inner and the outer race once each per spin (2 x BSF, the
    two unequal), and the cage carries it in and out of the load zone (FTF)."""
    at = _defect_times(unit, m, turns, 2 * unit.bearing.bsf, g)
    races = np.where(np.arange(at.size) % 2 == 0, 1.0, 0.45)
    cage = _turns_at(turns, at, unit.vib_rate) * unit.bearing.ftf
    zone = 0.35 + 0.65 * np.clip(np.cos(2 * np.pi * cage), 0, 1)
    return _ringing(unit, turns, at, races * zone, g, s)


def _orders(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
            levels: dict[int, tuple[float, float, float]]) -> np.ndarray:
    """Shaft orders {k: (x, y, z) mm/s RMS} as acceleration."""
    count = harmonics_below(m.shaft_hz, unit.vib_rate / 2, max(levels))
    out = np.zeros((3, turns.size))
    for axis in range(3):
        amps = np.zeros(count)
        for k, per_axis in levels.items():
            if k <= count:
                amps[k - 1] = float(velocity_to_accel(np.array(per_axis[axis]),
                                                      np.array(k * m.shaft_hz)))
        out[axis] = comb(turns + axis * 0.25, amps, g.uniform(0, 6.3, count))
    return out


def imbalance(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
              s: float) -> np.ndarray:
    v = 5.5 * s  # a rotating force: radial, both axes alike, little axial
    return _orders(unit, m, turns, g, {1: (v, v, 0.15 * v)})


def misalignment(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
                 s: float) -> np.ndarray:
    v = 4.0 * s  # bent shaft / cocked rotor: 2x radial, strong axial 1x and 2x
    return _orders(unit, m, turns, g, {1: (0.4 * v, 0.4 * v, 0.8 * v),
                                       2: (v, 0.8 * v, 0.6 * v), 3: (0.3 * v, 0.2 * v, 0.2 * v)})


def looseness(unit: Unit, m: Moment, turns: np.ndarray, g: np.random.Generator,
              s: float) -> np.ndarray:
    """A worn grommet or loose foot bolt: the motion truncated at the stop, so a long
    series of orders and half orders, mostly vertical, and a knock each turn."""
    count = harmonics_below(m.shaft_hz / 2, unit.vib_rate / 2, 20)
    k = np.arange(1, count + 1)
    v = 3.0 * s / k ** 0.6 * np.where(k % 2 == 0, 1.0, 0.5)
    accel = velocity_to_accel(v, k * m.shaft_hz / 2)
    out = np.zeros((3, turns.size))
    for axis, share in enumerate((0.5, 0.8, 1.0)):
        out[axis] = comb(turns / 2, share * accel, g.uniform(0, 6.3, count))
    at = _defect_times(unit, m, turns, 1.0, g)
    f = freqs(turns.size, unit.vib_rate)
    knock = filtered(impulses(turns.size, unit.vib_rate, at, np.ones(at.size)),
                     peak(f, float(g.uniform(250, 600)), 8.0))
    knock *= 4.0 * s / (float(np.max(np.abs(knock))) or 1.0)
    return out + np.array([[0.3], [0.6], [1.0]]) * knock


VIBRATION_FAULT_SIGNALS: dict[str, VibFault] = {
    "bearing_outer": bearing_outer,
    "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball,
    "imbalance": imbalance,
    "misalignment": misalignment,
    "looseness": looseness,
}
