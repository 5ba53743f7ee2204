"""The six vibration faults on the shell accelerometer, with levels from ISO 10816 for small
machines: at severity 1 the velocity RMS reaches zone C/D (4.5 mm/s and beyond).

Bearing defects are impacts at the defect frequency of the bearing's geometry and the
shaft's speed (with ~1 % scatter, the rolling elements slip), each ringing the structure's
resonance at a few kHz: an outer-race defect sits in the load zone, so its impacts are
even; an inner-race defect turns with the shaft, in and out of the load zone (modulated at
1x); a ball defect strikes both races each spin (2 x BSF), carried round by the cage (FTF).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.kitchen import machine as M
from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.operation import Moment
from gateway.devtools.kitchen.units import Unit
from gateway.devtools.kitchen.vibration import tone_accel

VibFault = Callable[[Unit, Moment, P.Frame, np.random.Generator, float], np.ndarray]
_AXIS_SHARE = np.array([1.0, 0.8, 0.35])  # bearing impacts: radial mostly


def _impacts(unit: Unit, fr: P.Frame, g: np.random.Generator, rate_hz: float,
             modulation: np.ndarray | None, peak: float) -> np.ndarray:
    """(3, n) acceleration of impacts every 1/rate_hz ringing the bearing seat."""
    period = 1.0 / rate_hz
    times = np.arange(g.random() * period, fr.n / fr.rate, period)
    times = np.clip(times + g.normal(0, 0.01 * period, times.size), 0, None)
    amps = g.uniform(0.8, 1.2, times.size)
    if modulation is not None:
        idx = np.clip((times * fr.rate).astype(int), 0, fr.n - 1)
        amps = amps * modulation[idx]
    res = min(unit.bearing_res_hz, 0.38 * fr.rate)
    seat = P.modal_response(fr.f, [(res, 20.0, 1.0)], fr.rate)
    tau = 20.0 / (np.pi * res)  # the ring's decay time
    lone_rms = peak * np.sqrt(tau / 2)  # one impact's RMS over a second
    ring = P.to_time(P.knocks(fr, times, amps, seat, lone_rms), fr.n)
    return _AXIS_SHARE[:, None] * ring[None, :]


def bearing_outer(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
                  ) -> np.ndarray:
    return _impacts(unit, fr, g, unit.bearing.bpfo * m.shaft_rps, None, 12.0 * s)


def bearing_inner(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
                  ) -> np.ndarray:
    phase = M.shaft_phase(unit, fr.t_s)
    zone = 0.55 + 0.45 * np.cos(2 * np.pi * (m.shaft_rps * fr.t + phase))
    return _impacts(unit, fr, g, unit.bearing.bpfi * m.shaft_rps, zone, 12.0 * s)


def bearing_ball(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
                 ) -> np.ndarray:
    cage = 0.5 + 0.5 * np.cos(2 * np.pi * unit.bearing.ftf * m.shaft_rps * fr.t + g.random())
    return _impacts(unit, fr, g, 2 * unit.bearing.bsf * m.shaft_rps, cage, 9.0 * s)


def _orders(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
            orders: list[tuple[float, float, tuple[float, float, float]]]) -> np.ndarray:
    """Tones at shaft orders: (order, velocity RMS mm/s, per-axis gains)."""
    out = np.zeros((3, fr.n))
    phase = M.shaft_phase(unit, fr.t_s)
    for order, v, axes in orders:
        f = order * m.shaft_rps
        if f >= 0.45 * fr.rate:
            continue
        offset = g.random()
        for axis in range(3):
            quad = 0.25 if axis == 1 else 0.0
            out[axis] += axes[axis] * tone_accel(f, v, f * fr.t + order * phase + offset + quad)
    return out


def imbalance(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
              ) -> np.ndarray:
    """A rotating force at 1x, radial, in quadrature between x and y."""
    return _orders(unit, m, fr, g, [(1.0, 5.0 * s, (1.0, 1.0, 0.1))])


def misalignment(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
                 ) -> np.ndarray:
    """A bent crank or a rotor off the stator's axis: 2x dominant, strong axially."""
    return _orders(unit, m, fr, g, [(1.0, 1.5 * s, (0.7, 0.7, 1.0)),
                                    (2.0, 3.5 * s, (0.8, 0.8, 1.2)),
                                    (3.0, 1.0 * s, (0.5, 0.5, 0.8))])


def looseness(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float
              ) -> np.ndarray:
    """A loose mounting foot or grommet: the plate lifts and lands once a turn, so a long
    series of shaft harmonics, half-orders, and a clatter ringing the plate."""
    orders = [(float(k), 1.6 * s / np.sqrt(k), (1.0, 0.8, 0.4)) for k in range(1, 11)]
    orders += [(k + 0.5, 0.5 * s / np.sqrt(k + 1), (1.0, 0.8, 0.4)) for k in range(0, 4)]
    out = _orders(unit, m, fr, g, orders)
    phase = M.shaft_phase(unit, fr.t_s)
    k = np.arange(0, int(fr.n / fr.rate * m.shaft_rps) + 2)
    times = (k + ((0.6 - phase) % 1.0)) / m.shaft_rps
    times = times[times < fr.n / fr.rate]
    plate_hz = float(P.rng("plate", unit.device_id, unit.seed).uniform(350, 700))
    plate = P.modal_response(fr.f, [(plate_hz, 10.0, 1.0)], fr.rate)
    clatter = P.knocks(fr, times, g.uniform(0.5, 1.5, times.size), plate, 0.4 * s)
    out += np.array([1.0, 0.8, 0.4])[:, None] * P.to_time(clatter, fr.n)[None, :]
    return out


_FAULTS: dict[str, VibFault] = {
    "bearing_outer": bearing_outer, "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball, "imbalance": imbalance, "misalignment": misalignment,
    "looseness": looseness,
}
VIBRATION_FAULTS: tuple[str, ...] = tuple(_FAULTS)


def fault_accel(unit: Unit, m: Moment, fr: P.Frame, fault: str | None, severity: float
                ) -> np.ndarray | None:
    """The fault's added acceleration, or None when it adds nothing (none, severity 0, or
    the compressor stopped: every one of these needs the shaft turning)."""
    if fault is None:
        return None
    if fault not in _FAULTS:
        raise ValueError(f"unknown vibration fault {fault!r}; expected one of "
                         f"{VIBRATION_FAULTS}")
    if severity <= 0 or not m.running:
        return None
    g = P.rng("vibration-fault", unit.device_id, unit.seed, fr.t_s, fault)
    return _FAULTS[fault](unit, m, fr, g, min(1.0, float(severity)))
