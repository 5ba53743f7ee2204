"""When the compressor runs: thermostat cycling, defrosts, and load through the day and week.

A refrigeration controller switches the compressor on a suction-pressure or air-temperature
band, so a fixed-speed machine cycles with a duty that follows the heat load; an inverter
machine instead slows down and only cycles when the load falls below its minimum speed.
Several times a day the unit cooler defrosts: electric heaters (compressor pumped down and
off), hot gas (compressor running unloaded to feed the coil) or, on the chill dock, plain
off-cycle defrost. After the drip time the compressor restarts and pulls the room down at full
capacity; the unit-cooler fans stay off a little longer so they do not throw water.

The heat load follows the outdoor temperature (condensing pressure, wall gains), the doors and
forklifts of the shift, and product pull-down. Everything is vectorised over time arrays and
deterministic per unit and time, so ``device_week`` answers a week in one pass.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import checks, climate, seeding
from .units import Unit

_CHUNK = 200_000  # bounds the memory of a very fine device_week


class State(NamedTuple):
    """What the controller is doing at each time."""

    running: np.ndarray  # bool: compressor motor energised
    load: np.ndarray  # cooling demand, ~0.05-1.3 of capacity
    speed: np.ndarray  # inverter speed as a fraction of top speed (1.0 for fixed speed)
    heating: np.ndarray  # bool: a defrost is heating the coil
    evap_fans: np.ndarray  # bool: unit-cooler fans turning


class Defrost(NamedTuple):
    """One defrost, epoch seconds."""

    start: float
    heat_end: float
    drip_end: float
    fans_on: float


def _key(unit: Unit, purpose: str) -> int:
    return seeding.key64(unit.seed, unit.device_id, purpose)


def defrost_bounds(unit: Unit, t: np.ndarray, shift: int = 0) -> tuple[np.ndarray, ...]:
    """(start, heat_end, drip_end, fans_on) of the defrost of the period containing t
    (``shift`` periods later). Starts jitter by up to 10 minutes and heating terminates on coil
    temperature, so neither is exactly the same every day."""
    plan = unit.plan
    spacing = climate.DAY / plan.defrosts_per_day
    origin = plan.defrost_offset_h * 3600.0 - plan.tz_s
    period = np.floor((np.asarray(t, dtype=float) - origin) / spacing).astype(np.int64) + shift
    start = period * spacing + origin + 600.0 * seeding.hash_uniform(_key(unit, "dfj"), period)
    heat = plan.heat_s * (0.75 + 0.5 * seeding.hash_uniform(_key(unit, "dfh"), period))
    heat_end = start + heat
    drip_end = heat_end + plan.drip_s
    return start, heat_end, drip_end, drip_end + plan.fan_delay_s


def _load(unit: Unit, t: np.ndarray, since_drip: np.ndarray) -> np.ndarray:
    plan = unit.plan
    outdoor = climate.outdoor_temp(unit.seed, t, plan.tz_s)
    doors = climate.activity(t, plan.tz_s) * (1.5 if plan.role == "chill_dock" else 1.0)
    drift = 0.12 * seeding.smooth(_key(unit, "drift"), t / 5400.0)
    product = 0.2 * np.maximum(seeding.smooth(_key(unit, "product"), t / 10800.0), 0.0)
    pulldown = np.where(since_drip >= 0, 0.6 * np.exp(-np.maximum(since_drip, 0) /
                                                      plan.pulldown_s), 0.0)
    load = (plan.base_load + plan.temp_coef * (outdoor - 10.0) / 15.0 + plan.door_coef * doors
            + drift + product + pulldown)
    return np.clip(load, 0.05, 1.3)


def _cycling(unit: Unit, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thermostat cycling: cycle k starts on, runs for duty * period, then rests.

    The duty is set by the demand at the cycle's start, so it is worked out once per cycle
    (a window spans one or two cycles, a device week a few thousand).
    """
    plan = unit.plan
    cycle = np.floor((t - plan.cycle_phase_s) / plan.cycle_s).astype(np.int64)
    uniq, inverse = np.unique(cycle, return_inverse=True)
    cycle_start = uniq * plan.cycle_s + plan.cycle_phase_s
    demand = _load(unit, cycle_start, cycle_start - defrost_bounds(unit, cycle_start)[2])
    jitter = 0.12 * (seeding.hash_uniform(_key(unit, "cycle"), uniq) - 0.5)
    if unit.machine.inverter:
        duty = np.clip(demand / plan.min_speed + jitter, 0.15, 1.0)
        speed = np.clip(demand, plan.min_speed, 1.0)
    else:
        duty = np.clip(demand + jitter, 0.15, 1.0)
        speed = np.ones_like(demand)
    duty = np.where(duty > 0.93, 1.0, duty)  # the room never reaches the cut-out
    on = (t - cycle_start[inverse]) < (duty * plan.cycle_s)[inverse]
    return on, speed[inverse]


def state(unit: Unit, t: np.ndarray, with_load: bool = True) -> State:
    """The controller's state at each time in ``t`` (epoch seconds).

    ``with_load=False`` skips the per-time load (returned as NaN), which only the operating
    point needs and only at one time per window.
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    plan = unit.plan
    start, heat_end, drip_end, fans_on = defrost_bounds(unit, t)
    since_drip = t - drip_end
    heating = (t >= start) & (t < heat_end)
    dripping = (t >= heat_end) & (t < drip_end)
    pulling = (since_drip >= 0) & (since_drip < plan.pulldown_s)
    on, speed = _cycling(unit, t)
    load = _load(unit, t, since_drip) if with_load else np.full(t.shape, np.nan)
    hot_gas = plan.defrost == "hot_gas"
    running = np.where(heating, hot_gas, np.where(dripping, False, on | pulling))
    speed = np.where(heating, plan.min_speed if unit.machine.inverter else 1.0,
                     np.where(pulling, 1.0, speed))
    load = np.where(heating, 0.3, load)
    # Off-cycle (air) defrost keeps the fans on: they melt the frost with room air.
    fans = np.ones_like(running) if plan.defrost == "off_cycle" else ~((t >= start) & (t < fans_on))
    return State(running.astype(bool), load, speed, heating, fans.astype(bool))


def defrosts_near(unit: Unit, t0: float, t1: float) -> list[Defrost]:
    """The defrosts whose events (start to fans on) overlap [t0, t1]."""
    found = []
    for shift in (-1, 0, 1):
        bounds = defrost_bounds(unit, np.array([t0]), shift)
        d = Defrost(*(float(b[0]) for b in bounds))
        if d.start <= t1 and d.fans_on + 600.0 >= t0:  # ticking goes on after the fans start
            found.append(d)
    return found


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at epoch second ``t_s``."""
    t = checks.finite_time(t_s)
    return bool(state(unit, np.array([t]), with_load=False).running[0])


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    """[(start_s + i * cadence_s, running_at(...))] for i * cadence_s < days * 86400."""
    start = checks.finite_time(start_s, "start_s")
    cadence = checks.finite_time(cadence_s, "cadence_s")
    if cadence <= 0:
        raise ValueError(f"cadence_s must be > 0, got {cadence_s!r}")
    span = checks.finite_time(days, "days") * climate.DAY
    count = max(0, math.ceil(span / cadence))
    steps = np.arange(count, dtype=np.float64) * cadence
    steps = steps[steps < span]
    out: list[tuple[float, bool]] = []
    for lo in range(0, steps.size, _CHUNK):
        times = start + steps[lo : lo + _CHUNK]
        run = state(unit, times, with_load=False).running
        out.extend(zip(times.tolist(), run.tolist(), strict=True))
    return out
