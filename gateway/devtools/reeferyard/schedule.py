"""When a unit runs and how hard: thermostat cycles, defrost, digital-scroll PWM, the day.

Everything here is a pure function of (unit, epoch seconds), so any window can be made on its
own, in any order, and ``device_week`` agrees with ``running_at`` by construction.
"""

from __future__ import annotations

import math

import numpy as np

from .keys import smooth_noise, uniform
from .unit import Unit

DAY_S = 86400.0


def local_hour(unit: Unit, t_s: float) -> float:
    """The yard's local time of day in hours (the port runs 24/7 but is quieter at night)."""
    return (t_s / 3600.0 + unit.tz_hours) % 24.0


def ambient_c(unit: Unit, t_s: float) -> float:
    """Air temperature: a day cycle peaking mid-afternoon plus slow weather (6 h knots)."""
    day = 5.0 * math.cos(2.0 * math.pi * (local_hour(unit, t_s) - 15.0) / 24.0)
    weather = 4.0 * smooth_noise(t_s, 6 * 3600.0, "weather", unit.seed)
    return unit.mean_ambient_c + day + weather


def coil_dirt(unit: Unit, t_s: float) -> float:
    """0 after a coil wash, growing to 1 over ~40 days: raises condensing pressure slowly."""
    period = 40 * DAY_S
    return ((t_s + unit.offset_s * 7.0) % period) / period


def cargo_mass(unit: Unit, t_s: float) -> float:
    """Thermal load of the current consignment in [-1, 1]; a trip lasts about 12 days."""
    trip = math.floor((t_s + unit.offset_s) / (12 * DAY_S))
    return 2.0 * uniform("cargo", unit.device_id, unit.seed, trip) - 1.0


def in_defrost(unit: Unit, t_s: float) -> bool:
    """Defrost: compressor and evaporator fans off, heaters on, every 6-12 h for 20-45 min."""
    return (t_s + unit.offset_s) % unit.defrost_every_s < unit.defrost_s


def since_defrost(unit: Unit, t_s: float) -> float:
    """Seconds since the last defrost ended (pull-down runs the unit hard afterwards)."""
    return (t_s + unit.offset_s) % unit.defrost_every_s - unit.defrost_s


def _duty(unit: Unit, t_s: float, cycle: int) -> float:
    warm = (ambient_c(unit, t_s) - 18.0) / 10.0
    jitter = 2.0 * uniform("duty", unit.device_id, unit.seed, cycle) - 1.0
    if unit.cargo == "frozen":
        d = 0.93 + 0.04 * warm + 0.04 * unit.duty_bias + 0.02 * jitter + 0.02 * coil_dirt(
            unit, t_s)
        return min(max(d, 0.8), 0.995)
    d = 0.45 + 0.2 * warm + 0.3 * unit.duty_bias + 0.08 * jitter + 0.08 * cargo_mass(unit, t_s)
    return min(max(d, 0.18), 0.92)


def _cycle_pos(unit: Unit, t_s: float) -> tuple[int, float]:
    pos = (t_s + unit.offset_s * 3.0) / unit.cycle_s
    cycle = math.floor(pos)
    return cycle, pos - cycle


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at epoch t_s: off in defrost and in the thermostat's off
    part of each cycle (chilled units cycle a lot, frozen units nearly never stop)."""
    if in_defrost(unit, t_s):
        return False
    cycle, frac = _cycle_pos(unit, t_s)
    return frac < _duty(unit, t_s, cycle)


def since_start(unit: Unit, t_s: float) -> float:
    """Seconds since the compressor last started (from a thermostat cycle or a defrost)."""
    _, frac = _cycle_pos(unit, t_s)
    return min(frac * unit.cycle_s, max(since_defrost(unit, t_s), 0.0))


def capacity(unit: Unit, t_s: float) -> float:
    """Capacity demand in [0.1, 1]: high on pull-down after defrost, in the heat of the day
    and for frozen cargo; chilled units idle at low capacity much of the time."""
    warm = (ambient_c(unit, t_s) - 18.0) / 12.0
    if unit.cargo == "frozen":
        c = 0.8 + 0.15 * warm + 0.05 * cargo_mass(unit, t_s)
    else:
        c = 0.4 + 0.2 * warm + 0.1 * cargo_mass(unit, t_s)
    pull = since_defrost(unit, t_s)
    if 0.0 <= pull < 1200.0:
        c += 0.5 * (1.0 - pull / 1200.0)
    return min(max(c, 0.1), 1.0)


def head(unit: Unit, t_s: float) -> float:
    """Relative pressure ratio (about 0.7-1.4): warm air and a dirty coil raise the
    condensing pressure, frozen cargo lowers the suction pressure; both load the scroll."""
    cond = ambient_c(unit, t_s) + 12.0 + 6.0 * coil_dirt(unit, t_s)
    evap = -28.0 if unit.cargo == "frozen" else 0.0
    return (cond - evap) / 52.0


def cond_fan_hz(unit: Unit, t_s: float) -> float:
    """Two-speed condenser fans switch to high speed on high head (hot day, dirty coil)."""
    lo, hi = unit.cond_fan_hz
    return hi if ambient_c(unit, t_s) + 4.0 * coil_dirt(unit, t_s) > unit.fan_switch_c else lo


def evap_fan_hz(unit: Unit, t_s: float, running: bool) -> float:
    """Evaporator fans: stopped in defrost, low speed on frozen cargo, high on chilled cargo,
    and on chilled cargo they keep circulating air while the compressor is off."""
    if in_defrost(unit, t_s) and not running:
        return 0.0
    if unit.cargo == "frozen":
        return unit.evap_fan_hz[0] if running else 0.0
    return unit.evap_fan_hz[1]


def pwm_phase(unit: Unit, t: np.ndarray) -> np.ndarray:
    """Seconds into the digital scroll's PWM period for each sample time."""
    return np.mod(t + unit.offset_s * 5.0, unit.pwm_period_s)


def load_envelope(unit: Unit, t_s: float, t: np.ndarray) -> np.ndarray:
    """Scroll loading per sample in [0, 1]: digital scrolls are loaded for capacity x period
    of each PWM period and unloaded (scrolls lifted apart, no compression) for the rest, with
    ~80 ms transitions; other drives stay loaded and follow capacity by speed."""
    if unit.model.drive != "digital":
        return np.ones_like(t)
    on = capacity(unit, t_s) * unit.pwm_period_s
    u = pwm_phase(unit, t)
    tau = 0.08
    env: np.ndarray = np.minimum(np.clip(u / tau, 0.0, 1.0), np.clip((on - u) / tau, 0.0, 1.0))
    return env


def shaft_hz(unit: Unit, t_s: float) -> float:
    """Mean shaft rate: inverters follow capacity; mains motors run at sync minus slip."""
    if unit.model.drive == "inverter":
        c = capacity(unit, t_s)
        return unit.speed_lo_hz + (unit.speed_hi_hz - unit.speed_lo_hz) * c
    return unit.mains_hz * (1.0 - unit.slip * min(head(unit, t_s), 1.4))


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    """(t, running) at start_s + i * cadence_s for every t within `days` of start_s."""
    if cadence_s <= 0:
        raise ValueError(f"cadence_s must be positive, got {cadence_s!r}")
    count = int(math.floor(days * DAY_S / cadence_s + 1e-9))
    times = (float(start_s + i * cadence_s) for i in range(max(count, 0)))
    return [(t, running_at(unit, t)) for t in times]
