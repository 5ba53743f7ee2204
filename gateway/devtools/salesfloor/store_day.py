"""The store's day in local time: opening hours, shoppers, night blinds, cleaning, deliveries.

All functions take epoch seconds (UTC) and the unit, whose store sets the local offset and the
kind of shop: a supermarket (Mon-Sat long hours, short Sunday), a convenience store (every day,
early to late) or an all-night store (always open, nearly empty at night).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .seeding import uniform
from .units import Unit

DAY_S = 86400.0


@dataclass(frozen=True)
class LocalTime:
    day: int  # local day number since the epoch
    weekday: int  # 0 = Monday
    hour: float  # 0 <= hour < 24


def local_time(unit: Unit, t_s: float) -> LocalTime:
    local = float(t_s) + unit.utc_offset_h * 3600.0
    day = math.floor(local / DAY_S)
    return LocalTime(day=day, weekday=(day + 3) % 7, hour=(local - day * DAY_S) / 3600.0)


def opening_hours(unit: Unit, weekday: int) -> tuple[float, float]:
    """(open, close) in local hours; open == close means closed all day."""
    if unit.store_kind == "all_night":
        return (0.0, 24.0)
    if unit.store_kind == "convenience":
        return (6.0, 23.0)
    return (10.0, 16.0) if weekday == 6 else (7.0, 21.0 if weekday < 5 else 22.0)


def is_open(unit: Unit, t_s: float) -> bool:
    lt = local_time(unit, t_s)
    start, end = opening_hours(unit, lt.weekday)
    return start <= lt.hour < end


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def crowd(unit: Unit, t_s: float) -> float:
    """How busy the floor is, 0 (empty) to 1 (Saturday's after-work peak): a lunch bump, an
    after-work peak, quieter first and last hours, busier Saturdays, day-to-day variation."""
    lt = local_time(unit, t_s)
    start, end = opening_hours(unit, lt.weekday)
    if not start <= lt.hour < end:
        return 0.0
    h = lt.hour
    level = 0.2 + 0.35 * _bump(h, 12.5, 1.0) + 0.55 * _bump(h, 17.8, 1.3)
    if unit.store_kind == "all_night":
        level *= 0.15 + 0.85 * _bump(h, 15.0, 4.5)
    edge = min(h - start, end - h)
    level *= min(1.0, 0.4 + 0.6 * edge) if end - start < 24 else 1.0
    level *= {5: 1.3, 6: 0.85}.get(lt.weekday, 1.0)
    level *= 0.85 + 0.3 * uniform("crowd-day", unit.store_kind, unit.utc_offset_h, lt.day)
    return min(1.0, level)


def blinds_down(unit: Unit, t_s: float) -> bool:
    """Open multidecks and serve-overs get their night blinds pulled shortly after closing
    and lifted shortly before opening; glass-door and island cases have none."""
    if unit.case_kind not in ("multideck", "serve_over") or unit.store_kind == "all_night":
        return False
    lt = local_time(unit, t_s)
    start, end = opening_hours(unit, lt.weekday)
    return lt.hour >= end + 0.3 or lt.hour < start - 0.5


def scrubber_nearness(unit: Unit, t_s: float) -> float:
    """0 (no floor scrubber) to 1 (it passes right by the case). Cleaning runs for two hours
    after closing (02:00-04:00 in an all-night store); the machine works the aisles in lanes,
    passing each case once per lane sweep."""
    lt = local_time(unit, t_s)
    start, end = opening_hours(unit, lt.weekday)
    clean_from = 2.0 if end - start >= 24 else end + 0.5
    if not clean_from <= lt.hour < clean_from + 2.0:
        return 0.0
    sweep_s = 420.0
    phase = (float(t_s) / sweep_s + uniform("aisle", unit.device_id)) % 1.0
    return 0.08 + 0.92 * math.exp(-0.5 * ((phase - 0.5) / 0.06) ** 2)


def delivery_activity(unit: Unit, t_s: float) -> float:
    """Roll cages and pallet trucks in the early morning before opening, Monday to Saturday,
    active in some minutes and idle in others."""
    lt = local_time(unit, t_s)
    start, _ = opening_hours(unit, lt.weekday)
    first = min(start, 7.0) - 2.0 if start > 0 else 4.0
    if lt.weekday == 6 or not first <= lt.hour < first + 1.5:
        return 0.0
    minute = math.floor(float(t_s) / 60.0)
    return 1.0 if uniform("delivery", unit.device_id, minute) < 0.45 else 0.0
