"""When the compressor runs: the milking-driven day of a bulk milk tank.

Warm milk (35 C) flows in during each milking, so the compressor runs from a few minutes
after the cluster goes on until the tank is back at 4 C (a long pull-down); between
milkings the thermostat cycles it briefly. On collection days the tanker empties the tank
after the morning pull-down, the tank is washed and stays empty, so the compressor is off
until the next milking. Ice-bank units also build ice through the night. Each local day
is planned once (deterministic from the unit and the day) and cached.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .seeding import stream
from .units import Unit
from .weather import DAY, head_factor

Span = tuple[float, float]


@dataclass(frozen=True)
class DayPlan:
    milkings: tuple[Span, ...]
    empty: tuple[Span, ...]  # tank collected and washed, nothing to cool
    wash: tuple[Span, ...]  # tank washing (hot water, detergent pump, spray)
    runs: tuple[tuple[float, float, bool], ...]  # (start, end, is pull-down), sorted
    starts: tuple[float, ...]


def _day0(unit: Unit, day: int) -> float:
    return day * DAY - unit.farm.tz_hours * 3600.0


@lru_cache(maxsize=4096)
def day_plan(unit: Unit, day: int) -> DayPlan:
    farm, day0 = unit.farm, _day0(unit, day)
    r = stream(unit.seed, unit.device_id, "day", day)
    milkings = tuple(_milking(day0, h, farm.milking_duration_h, r.normal(0, 0.2),
                              r.uniform(0.85, 1.15)) for h in farm.milking_hours)
    pulls = [(m0 + r.uniform(300, 900), m1 + farm.tail_h * 3600 * r.uniform(0.8, 1.3), True)
             for m0, m1 in milkings]
    empty: tuple[Span, ...] = ()
    wash: tuple[Span, ...] = ()
    if (day + farm.collect_phase) % farm.collect_every == 0:
        collect = pulls[0][1] + farm.collect_delay_h * 3600 * r.uniform(0.7, 1.3)
        collect = min(collect, milkings[1][0] - 5400)
        empty = ((collect, milkings[1][0] + 300),)
        wash = ((collect + 900, collect + 900 + r.uniform(1800, 3600)),)
    runs = pulls + _cycles(unit, day0, r) + (_ice_runs(day0, r) if farm.ice_bank else [])
    merged = _merge(_cut(runs, empty))
    return DayPlan(milkings, empty, wash, merged, tuple(s for s, _, _ in merged))


def _milking(day0: float, hour: float, dur_h: float, jitter_h: float, scale: float) -> Span:
    start = day0 + (hour + jitter_h) * 3600.0
    return start, start + dur_h * scale * 3600.0


def _cycles(unit: Unit, day0: float, rng: np.random.Generator) -> list[tuple[float, float, bool]]:
    """Thermostat cycling through the day; hotter weather means longer on, shorter off."""
    farm = unit.farm
    heat = head_factor(unit, day0 + 0.5 * DAY)
    slow = 3.0 if farm.ice_bank else 1.0  # an ice bank holds the tank cold by itself
    out, t = [], day0 + rng.uniform(0, farm.cycle_off_s)
    while t < day0 + DAY:
        on = farm.cycle_on_s * heat * rng.uniform(0.7, 1.3)
        out.append((t, t + on, False))
        t += on + farm.cycle_off_s * slow / heat * rng.uniform(0.7, 1.3)
    return out


def _ice_runs(day0: float, r: np.random.Generator) -> list[tuple[float, float, bool]]:
    """Ice building on the night tariff: hour-long runs with short rests, 23:00 to 06:00."""
    out, t = [], day0 - 3600.0 + r.uniform(0, 900)
    while t < day0 + 6 * 3600.0:
        run = r.uniform(2400, 6000)
        out.append((t, t + run, True))
        t += run + r.uniform(300, 1200)
    return out


def _cut(runs: list[tuple[float, float, bool]], empty: tuple[Span, ...]
         ) -> list[tuple[float, float, bool]]:
    out = []
    for s, e, pull in runs:
        for e0, e1 in empty:
            if s < e1 and e > e0:  # keep only the part outside the empty-tank span
                if s < e0:
                    out.append((s, e0, pull))
                s = max(s, e1)
        if e > s:
            out.append((s, e, pull))
    return out


def _merge(runs: list[tuple[float, float, bool]]) -> tuple[tuple[float, float, bool], ...]:
    out: list[tuple[float, float, bool]] = []
    for s, e, pull in sorted(runs):
        if out and s <= out[-1][1] + 20.0:  # a restart within seconds is the same run
            ps, pe, pp = out[-1]
            out[-1] = (ps, max(pe, e), pp or pull)
        else:
            out.append((s, e, pull))
    return tuple(out)


def local_day(unit: Unit, t_s: float) -> int:
    return math.floor((t_s + unit.farm.tz_hours * 3600.0) / DAY)


def run_at(unit: Unit, t_s: float) -> tuple[float, float, bool] | None:
    """The scheduled run containing t_s (a run may have started the day before)."""
    day = local_day(unit, t_s)
    for d in (day, day - 1):
        plan = day_plan(unit, d)
        i = bisect_right(plan.starts, t_s) - 1
        if i >= 0 and plan.runs[i][1] > t_s:
            return plan.runs[i]
    return None


def running_at(unit: Unit, t_s: float) -> bool:
    return run_at(unit, t_s) is not None


def next_start(unit: Unit, t_s: float) -> float | None:
    """Start of the first run after t_s within the same or next local day."""
    day = local_day(unit, t_s)
    for d in (day, day + 1):
        plan = day_plan(unit, d)
        i = bisect_right(plan.starts, t_s)
        if i < len(plan.starts):
            return plan.starts[i]
    return None


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    if cadence_s <= 0:
        raise ValueError(f"cadence_s must be positive, got {cadence_s!r}")
    count = max(0, math.ceil(days * DAY / cadence_s))
    times = (start_s + i * cadence_s for i in range(count) if i * cadence_s < days * DAY)
    return [(t, running_at(unit, t)) for t in times]


def _within(spans: tuple[Span, ...], t_s: float) -> bool:
    return any(a <= t_s < b for a, b in spans)


def milking_at(unit: Unit, t_s: float) -> bool:
    day = local_day(unit, t_s)
    spans = day_plan(unit, day).milkings + day_plan(unit, day - 1).milkings
    return _within(spans, t_s)


def parlour_wash_at(unit: Unit, t_s: float) -> bool:
    """The pressure washer goes over the parlour for half an hour after each milking."""
    milkings = day_plan(unit, local_day(unit, t_s)).milkings
    spans = tuple((end + 300.0, end + 2100.0) for _, end in milkings)
    return _within(spans, t_s)


def tank_wash_at(unit: Unit, t_s: float) -> bool:
    return _within(day_plan(unit, local_day(unit, t_s)).wash, t_s)


def tank_empty_at(unit: Unit, t_s: float) -> bool:
    return _within(day_plan(unit, local_day(unit, t_s)).empty, t_s)


def agitator_at(unit: Unit, t_s: float, running: bool) -> bool:
    """The paddle turns whenever the compressor cools (so milk never freezes on the
    evaporator) and on a timer otherwise, never in an empty tank."""
    if running:
        return True
    if tank_empty_at(unit, t_s):
        return False
    farm = unit.farm
    return (t_s + unit.seed * 61.0) % farm.agitator_period_s < farm.agitator_on_s
