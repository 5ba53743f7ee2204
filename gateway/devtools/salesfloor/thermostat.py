"""When the compressor runs and how fast: heat load, thermostat cycles, defrosts, drift.

The case's thermostat switches the compressor on at the cut-in temperature and off at the
cut-out, so the share of time on (duty) follows the heat load: shoppers reaching into an open
case or opening cooler doors add warm air, night blinds cut the load, restocking warm product
adds to it, a fouled condenser lowers capacity so each run lasts longer (the coil is cleaned
every one to three months; ageing wears the machine's sound rougher over years). Defrosts stop the
compressor for 15-30 minutes every 6-12 hours and are followed by a pull-down run. An inverter
unit runs longer at a speed matched to the load instead of cycling at full speed.
"""

from __future__ import annotations

import math

from . import store_day
from .seeding import uniform
from .units import Unit

PULL_DOWN_S = 600.0  # the run after a defrost, to bring the case back to temperature


def fouling(unit: Unit, t_s: float) -> float:
    """0 (condenser just cleaned) to 1 (coil dusted up, due for its cleaning)."""
    days = float(t_s) / store_day.DAY_S + uniform("fouling", unit.device_id, unit.seed) * 90.0
    return (days % unit.fouling_days) / unit.fouling_days


def age_years(unit: Unit, t_s: float) -> float:
    """Years in service; the unit went onto the floor some time in 2015-2023."""
    installed = 1_420_070_400.0 + uniform("installed", unit.device_id, unit.seed) * 9 * 3.156e7
    return max(0.0, (float(t_s) - installed) / 3.156e7)


def heat_load(unit: Unit, t_s: float) -> float:
    """Heat load relative to the nominal one the unit was sized for (about 0.5 to 1.4)."""
    crowd = store_day.crowd(unit, t_s)
    load = 0.82 + (0.35 if unit.case_kind in ("multideck", "serve_over") else 0.25) * crowd
    if store_day.blinds_down(unit, t_s):
        load *= 0.6
    if store_day.delivery_activity(unit, t_s) > 0 or _restocking(unit, t_s):
        load += 0.15
    return load * (1.0 + 0.25 * fouling(unit, t_s))


def _restocking(unit: Unit, t_s: float) -> bool:
    lt = store_day.local_time(unit, t_s)
    start, _ = store_day.opening_hours(unit, lt.weekday)
    return start > 0 and start - 1.5 <= lt.hour < start


def defrost_state(unit: Unit, t_s: float) -> str:
    """"defrost", "pull_down" or "normal", on a schedule fixed in local time."""
    lt = store_day.local_time(unit, t_s)
    offset_h = uniform("defrost", unit.device_id, unit.seed) * unit.defrost_every_h
    since_s = ((lt.hour - offset_h) % unit.defrost_every_h) * 3600.0
    if since_s < unit.defrost_min * 60.0:
        return "defrost"
    if since_s < unit.defrost_min * 60.0 + PULL_DOWN_S:
        return "pull_down"
    return "normal"


def duty(unit: Unit, t_s: float) -> float:
    """Share of a thermostat cycle the compressor runs at this load."""
    load = heat_load(unit, t_s)
    if unit.inverter:  # runs at low speed rather than stopping, until the load is very low
        return min(1.0, max(0.3, 0.75 + 0.8 * (load - 0.85)))
    return min(0.97, max(0.15, unit.duty_nominal * load / 0.9))


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at t_s. Cycles on a grid of the unit's cycle length
    (longer with the blinds down, when the case warms up slowly); each cycle starts with
    its run, whose share is the duty at the cycle's start with a little spread."""
    state = defrost_state(unit, t_s)
    if state != "normal":
        return state == "pull_down"
    period = unit.cycle_s * (1.5 if store_day.blinds_down(unit, t_s) else 1.0)
    phase = uniform("cycle-phase", unit.device_id, unit.seed) * period
    k = math.floor((float(t_s) - phase) / period)
    start = phase + k * period
    share = duty(unit, start) + 0.12 * (uniform("cycle", unit.device_id, unit.seed, k) - 0.5)
    return float(t_s) - start < share * period


def shaft_hz(unit: Unit, t_s: float) -> float:
    """Compressor shaft speed. A 2-pole induction motor turns at mains frequency less a slip
    that grows with load (higher discharge pressure); an inverter sets a speed matched to the
    load in 1 Hz steps, full speed in a pull-down."""
    load = heat_load(unit, t_s)
    if not unit.inverter:
        return unit.mains_hz * (1.0 - unit.slip * min(1.4, max(0.6, load)))
    lo, hi = unit.speed_range_hz
    if defrost_state(unit, t_s) == "pull_down":
        return float(round(hi))
    share = min(1.0, max(0.0, (load - 0.55) / 0.8))
    wobble = 0.1 * (uniform("speed", unit.device_id, math.floor(float(t_s) / 120.0)) - 0.5)
    return float(round(lo + (hi - lo) * min(1.0, max(0.0, share + wobble))))


def fans_running(unit: Unit, t_s: float, compressor_on: bool) -> tuple[bool, bool]:
    """(condenser fan, evaporator fan). The condenser fan is wired with the compressor unless
    the unit keeps it on; the evaporator fan runs always except in a heater defrost."""
    condenser = compressor_on or unit.cond_fan_continuous
    evaporator = not (unit.electric_defrost and defrost_state(unit, t_s) == "defrost")
    return condenser, evaporator
