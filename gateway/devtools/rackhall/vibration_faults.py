"""Vibration faults at the compressor's foot, each with a physical severity, sized against
the window's healthy lines (so a fault reads the same on a quiet and a rough unit) or in
absolute m/s² for impacts. Each returns (3, n) m/s² to add; severity 0 is never called."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rackhall.faults import impacts_at
from gateway.devtools.rackhall.operation import Moment
from gateway.devtools.rackhall.pieces import decaying_mode, freqs, ringing, rng_for
from gateway.devtools.rackhall.units import Unit
from gateway.devtools.rackhall.vibration import Lines, synthesise

VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment", "looseness")
RADIAL = np.array([0.7, 1.0, 0.35])  # the bearing's load acts vertically (y)


def _rings(unit: Unit, n: int, rate: int, times: np.ndarray, amps: np.ndarray) -> np.ndarray:
    kernel = decaying_mode(freqs(n, rate), unit.vib_res_hz, 0.05, rate)
    one = ringing(n, rate, times, amps, kernel)
    return RADIAL[:, None] * one[None, :]


def _spall_peak(severity: float) -> float:
    """Peak ring, m/s², of a spall 2 mm x severity wide (force ~ width^1.5): ~25 m/s² at 2 mm."""
    return 25.0 * severity ** 1.5


def bearing_outer(unit, m, n, rate, severity, angle, rng, lines):
    """Outer race (fixed, in the load zone): every roller strikes alike, at BPFO."""
    times = impacts_at(unit.bearing.orders()["bpfo"], m.shaft_hz, n, rate, rng)
    amps = _spall_peak(severity) * rng.uniform(0.8, 1.2, len(times))
    return _rings(unit, n, rate, times, amps)


def bearing_inner(unit, m, n, rate, severity, angle, rng, lines):
    """Inner race (turns with the shaft): strikes at BPFI, strong only while the spall passes
    through the load zone, so modulated at 1x (sidebands BPFI +/- 1x)."""
    times = impacts_at(unit.bearing.orders()["bpfi"], m.shaft_hz, n, rate, rng)
    zone = (0.5 + 0.5 * np.cos(2 * np.pi * m.shaft_hz * times + angle)) ** 1.5
    amps = _spall_peak(severity) * 0.8 * zone * rng.uniform(0.8, 1.2, len(times))
    return _rings(unit, n, rate, times, amps)


def bearing_ball(unit, m, n, rate, severity, angle, rng, lines):
    """A ball spall hits both races each spin (2 x BSF), loaded as the cage carries the ball
    through the load zone (modulation at FTF)."""
    orders = unit.bearing.orders()
    times = impacts_at(2 * orders["bsf"], m.shaft_hz, n, rate, rng, jitter=0.015)
    cage = 0.5 + 0.5 * np.cos(2 * np.pi * orders["ftf"] * m.shaft_hz * times
                              + rng.uniform(0, 2 * np.pi))
    amps = _spall_peak(severity) * 0.6 * cage * rng.uniform(0.7, 1.3, len(times))
    return _rings(unit, n, rate, times, amps)


def _one_x(lines: Lines) -> np.ndarray:
    return lines.amps[0]  # machine_lines puts the residual unbalance first


def imbalance(unit, m, n, rate, severity, angle, rng, lines):
    """Added unbalance of 3 x the residual x severity, at an angle within 1 rad of it (so it
    adds): 1x grows in the radial plane, the axial hardly."""
    offset = rng_for("imbalance-angle", unit.device_id, unit.seed).uniform(-1, 1)
    added = Lines([], [], [])
    added.add(m.shaft_hz, 3 * severity * _one_x(lines) * [1, 1, 0.15],
              np.asarray(lines.phases[0]) + offset)
    return synthesise(added, n, rate)


def misalignment(unit, m, n, rate, severity, angle, rng, lines):
    """Motor-to-crank bore misalignment (0.3 degree x severity, a worn or shifted bearing
    housing): 2x radial and, the signature, axial 1x and 2x."""
    v1 = float(np.max(_one_x(lines)))
    added = Lines([], [], [])
    added.add(2 * m.shaft_hz, np.array([1.2, 1.0, 0.8]) * 1.5 * severity * v1,
              2 * angle + np.array([0.2, 1.8, 0.0]))
    added.add(m.shaft_hz, np.array([0.1, 0.1, 1.5]) * severity * v1, angle + np.array([0, 0, 3.1]))
    added.add(3 * m.shaft_hz, np.array([0.3, 0.3, 0.4]) * severity * v1, 3 * angle + 0.5)
    return synthesise(added, n, rate)


def looseness(unit, m, n, rate, severity, angle, rng, lines):
    """A mounting bolt that has lost (severity x 100) % of its preload: the foot lifts and
    slaps once a revolution, truncating the vertical motion; harmonics up to 10x,
    half-orders and a slap ringing the frame."""
    v1 = float(np.max(_one_x(lines)))
    added = Lines([], [], [])
    for order in (0.5, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        amp = v1 * severity * 0.9 / order ** 0.6
        added.add(order * m.shaft_hz, np.array([0.4, 1.0, 0.2]) * amp,
                  order * angle + rng.uniform(0, 2 * np.pi, 3))
    slaps = (np.arange(int(m.shaft_hz * n / rate) + 1) + angle / (2 * np.pi)) / m.shaft_hz
    kernel = decaying_mode(freqs(n, rate), 420.0, 0.1, rate)
    slap = ringing(n, rate, slaps, 6.0 * severity * rng.uniform(0.6, 1.4, len(slaps)), kernel)
    return synthesise(added, n, rate) + np.array([0.3, 1.0, 0.2])[:, None] * slap[None, :]


_FAULTS = {"bearing_outer": bearing_outer, "bearing_inner": bearing_inner,
           "bearing_ball": bearing_ball, "imbalance": imbalance, "misalignment": misalignment,
           "looseness": looseness}


def vibration_fault(kind: str, unit: Unit, m: Moment, n: int, rate: int, severity: float,
                    angle: float, rng: np.random.Generator, lines: Lines) -> np.ndarray:
    if kind not in _FAULTS:
        raise ValueError(f"unknown vibration fault {kind!r}; expected one of {VIBRATION_FAULTS}")
    return _FAULTS[kind](unit, m, n, rate, severity, angle, rng, lines)
