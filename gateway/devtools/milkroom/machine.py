"""The mechanical state of a condensing unit during one window: speed, load, phase.

Audio and vibration both read this, so the same window hears and feels the same machine.
An induction motor slips more under load (2-5 % at rated load), so the rotation lines sit
just under the synchronous speed and move with head pressure; an inverter scroll runs at
the speed its drive sets. Starts and stops within or just before the window give a speed
profile (a direct-on-line start reaches speed in a fraction of a second, a soft-starter
or inverter ramps for seconds; a hermetic stops within a few revolutions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .schedule import agitator_at, next_start, run_at
from .seeding import stream, window_key
from .units import Unit
from .weather import head_factor


@dataclass(frozen=True)
class Motion:
    running: bool  # the compressor state the window is labelled with
    rot_hz: float  # steady rotation of the compressor, rev/s
    mains_hz: float
    load: float  # 1 = rated; higher with warm milk, hot weather, dust
    speed: np.ndarray  # relative speed per sample, 0 (stopped) .. 1
    cycles: np.ndarray  # rotation phase in revolutions per sample
    start_s: float  # contactor closes at this offset into the window (-inf: long ago)
    stop_s: float  # the run ends at this offset (+inf: beyond the window)
    pulldown: bool
    second: bool  # the second compressor of a tandem runs too
    fans: int  # condenser fans turning
    agitator: bool
    head: float
    turning: bool  # the compressor turns at any moment of the window


def ramp_s(unit: Unit) -> float:
    comp = unit.compressor
    if comp.inverter_hz:
        return 5.0
    return 2.5 if comp.soft_start else (0.15 if comp.kind == "scroll" else 0.25)


def _events(unit: Unit, t_s: float, running: bool | None, seconds: float
            ) -> tuple[bool, float, float, bool]:
    """(labelled running, start offset, stop offset, pull-down) from schedule or override."""
    run = run_at(unit, t_s)
    if running is False:
        return False, math.inf, math.inf, False
    if run is not None:
        stop = math.inf if running else run[1] - t_s
        return True, run[0] - t_s, stop, run[2]
    if running:
        return True, -math.inf, math.inf, False
    start = next_start(unit, t_s)
    if start is not None and start - t_s < seconds:  # a start heard late in an "off" window
        return False, start - t_s, math.inf, False
    return False, math.inf, math.inf, False


def _speed(unit: Unit, tau: np.ndarray, start: float, stop: float) -> np.ndarray:
    rise = ramp_s(unit)
    if start < tau[0] - 6.0 * rise and stop > tau[-1]:
        return np.ones_like(tau)
    age = np.maximum(tau - start, 0.0)
    # a ramped start (soft starter, inverter) is linear; direct on line is exponential
    up = np.minimum(age / rise, 1.0) if rise > 1.0 else 1.0 - np.exp(-age * (4.0 / rise))
    up = np.where(tau >= start, up, 0.0)
    fall = 0.12 if unit.compressor.kind == "reciprocating" else 0.3
    down = np.exp(-np.maximum(tau - stop, 0.0) / fall)
    return up * down


def _rotation(unit: Unit, load: float, pulldown: bool) -> float:
    comp = unit.compressor
    if comp.inverter_hz:
        return comp.inverter_hz * (1.0 if pulldown else 0.8)
    sync = 2.0 * unit.farm.mains_hz / comp.poles
    return sync * (1.0 - comp.rated_slip * load)


def motion(unit: Unit, t_s: float, running: bool | None, seconds: float, rate: int) -> Motion:
    labelled, start, stop, pulldown = _events(unit, t_s, running, seconds)
    n = int(round(seconds * rate))
    tau = np.arange(n) / rate
    head = head_factor(unit, t_s)
    r = stream(unit.seed, unit.device_id, "motion", window_key(t_s), rate)
    age = -start if math.isfinite(start) else 1e9
    load = head * (1.0 - 0.3 * math.exp(-max(age, 0.0) / 40.0)) * (1.12 if pulldown else 1.0)
    load *= 1.0 + r.normal(0.0, 0.004)
    rot = _rotation(unit, load, pulldown)
    speed = _speed(unit, tau, start, stop) if math.isfinite(start) or labelled else np.zeros(n)
    cycles = r.random() + rot * np.cumsum(speed) / rate
    mains = unit.farm.mains_hz + 0.03 * math.sin(t_s / 600.0 + unit.seed)
    turning = bool(speed.size and speed.max() > 0.0)
    fans = (unit.fan.count if head > 1.0 else 1) if turning else 0
    return Motion(running=labelled, rot_hz=rot, mains_hz=mains, load=load, speed=speed,
                  cycles=cycles, start_s=start, stop_s=stop, pulldown=pulldown,
                  second=pulldown and unit.compressor.second and turning, fans=fans,
                  agitator=agitator_at(unit, t_s, labelled), head=head, turning=turning)
