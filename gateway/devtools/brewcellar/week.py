"""The brewery's week: which days brew, can and wash kegs, the weather, and the glycol demand.

Shared by every device of one site seed (the whole cellar brews on the same days). Local time is
Central European winter time (UTC+1, no daylight saving: the brewery's controllers ignore it).
Glycol demand is in units of the cellar's design load: cellar and bright-tank losses, the heat of
active fermentations (peaking about 40 h after each brew), crash-cooling a tank to 0 °C (a big
load for a day or so) and the wort knock-out on brewing days, when the heat exchanger's glycol
stage takes the wort from 20 °C down to pitching temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .keys import rng_for

DAY_S = 86_400.0
LOCAL_OFFSET_S = 3_600.0
_BREW_P = (0.5, 0.8, 0.8, 0.8, 0.5, 0.1, 0.0)  # Monday .. Sunday


@dataclass(frozen=True, slots=True)
class DayPlan:
    """What the brewery does on one local day."""

    weekday: int  # 0 = Monday
    brewing: bool
    brew_start_h: float
    canning: bool
    keg_wash: bool
    crash_start_h: float | None  # a fermenter starts crash-cooling at this hour
    work_start_h: float
    work_end_h: float  # equal to work_start_h on a day nobody comes in


@dataclass(frozen=True, slots=True)
class Activity:
    """What is going on around the machines at one moment."""

    staffed: bool  # people in the cellar: voices, radio, hoses, forklifts
    brewhouse: bool  # mash, lauter and boil next door
    cip: bool  # cleaning-in-place pump and spray ball in a tank
    keg_wash: bool
    canning: bool
    hour: float


def local_day(t_s: float) -> int:
    return math.floor((t_s + LOCAL_OFFSET_S) / DAY_S)


def local_hour(t_s: float) -> float:
    return ((t_s + LOCAL_OFFSET_S) % DAY_S) / 3600.0


def day_start_s(day: int) -> float:
    return day * DAY_S - LOCAL_OFFSET_S


@lru_cache(maxsize=4096)
def day_plan(seed: int, day: int) -> DayPlan:
    rng = rng_for("day", int(seed), int(day))
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    brewing = bool(rng.random() < _BREW_P[weekday])
    canning = bool(weekday < 5 and rng.random() < (0.25 if brewing else 0.6))
    keg_wash = bool(weekday < 5 and rng.random() < 0.5)
    crash = float(rng.uniform(7.0, 15.0)) if rng.random() < 0.35 else None
    works = weekday < 5 or brewing or canning
    start = float(rng.uniform(5.0, 6.0)) if brewing else float(rng.uniform(6.5, 8.0))
    end = start + (float(rng.uniform(9.0, 11.0)) if works else 0.0)
    return DayPlan(weekday, brewing, start + 0.25, canning, keg_wash, crash, start, end)


def activity_at(seed: int, t_s: float) -> Activity:
    plan = day_plan(seed, local_day(t_s))
    hour = local_hour(t_s)
    staffed = plan.work_start_h <= hour < plan.work_end_h
    brew_h = hour - plan.brew_start_h
    return Activity(
        staffed=staffed,
        brewhouse=plan.brewing and 0.0 <= brew_h < 7.0,
        cip=(plan.brewing and 7.0 <= brew_h < 8.5) or (staffed and 0.0 <= hour - plan.work_start_h
                                                        < 0.6),
        keg_wash=plan.keg_wash and staffed and hour < plan.work_start_h + 4.0,
        canning=plan.canning and plan.work_start_h + 1.5 <= hour < plan.work_end_h - 1.0,
        hour=hour,
    )


@lru_cache(maxsize=256)
def _weather(seed: int) -> tuple[tuple[float, float], ...]:
    """Three slow swings of a few days each: fronts passing, a warm spell."""
    rng = rng_for("weather", int(seed))
    return tuple((float(rng.uniform(2.5, 11.0)), float(rng.uniform(0.0, 2.0 * math.pi)))
                 for _ in range(3))


def ambient_c(seed: int, t_s: float) -> float:
    """Outdoor air at the condensers: season, a few days of weather, and the afternoon peak."""
    days = (t_s + LOCAL_OFFSET_S) / DAY_S
    season = 11.0 + 8.0 * math.cos(2.0 * math.pi * (days % 365.25 - 200.0) / 365.25)
    weather = sum(1.6 * math.sin(2.0 * math.pi * days / period + phase)
                  for period, phase in _weather(seed))
    diurnal = 4.0 * math.cos(2.0 * math.pi * (local_hour(t_s) - 15.0) / 24.0)
    return season + weather + diurnal


def _fermentation_heat(seed: int, day: int, t_s: float) -> float:
    heat = 0.0
    for back in range(0, 9):
        plan = day_plan(seed, day - back)
        if plan.brewing:
            age_h = (t_s - day_start_s(day - back)) / 3600.0 - plan.brew_start_h - 7.0
            if age_h > 0.0:
                x = age_h / 40.0
                heat += 0.14 * x * math.exp(1.0 - x)
    return heat


def _crash_and_knockout(seed: int, day: int, t_s: float) -> float:
    load = 0.0
    for back in range(0, 3):
        plan = day_plan(seed, day - back)
        hours = (t_s - day_start_s(day - back)) / 3600.0
        if plan.crash_start_h is not None and 0.0 <= hours - plan.crash_start_h < 30.0:
            load += 0.42 * math.exp(-(hours - plan.crash_start_h) / 16.0)
        if back == 0 and plan.brewing and 5.5 <= hours - plan.brew_start_h < 6.7:
            load += 0.5
    return load


def glycol_demand(seed: int, t_s: float) -> float:
    """The cellar's glycol cooling demand in units of its design load (about 0.3 .. 1.2)."""
    day = local_day(t_s)
    losses = 0.22 + 0.008 * (ambient_c(seed, t_s) - 12.0)
    return max(0.05, losses + _fermentation_heat(seed, day, t_s)
               + _crash_and_knockout(seed, day, t_s))


def keg_store_demand(seed: int, t_s: float) -> float:
    """A keg store's load: walls (ambient), door openings while staffed, warm kegs after washing."""
    act = activity_at(seed, t_s)
    load = 0.22 + 0.015 * (ambient_c(seed, t_s) - 10.0)
    if act.staffed:
        load += 0.15
    if day_plan(seed, local_day(t_s)).keg_wash and act.hour > 9.0:
        load += 0.12
    return max(0.05, load)


def fouling(offset_days: float, interval_days: float, t_s: float) -> float:
    """Condenser coil fouling in [0, 1]: grows between cleanings (malt dust, lint, grease)."""
    return ((t_s / DAY_S + offset_days) % interval_days) / interval_days
