"""Slow drifts of the healthy sound: weather and condenser dust.

Summer heat and a dusty condenser raise the head pressure (the compressor works harder,
its pulses grow, the thermostat runs it longer); rain and wind are heard on the roof.
Each local day has its own draws; values are interpolated between days so nothing jumps
at midnight.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .seeding import stream
from .units import Unit

DAY = 86400.0


@lru_cache(maxsize=8192)
def _day(unit: Unit, day: int) -> tuple[float, float, float]:
    """(temperature anomaly C, rain 0..1, wind 0..1) of one local day."""
    r = stream(unit.seed, unit.device_id, "weather", day)
    rain = max(0.0, r.uniform(-2.0, 1.0))  # about one day in three has showers
    return float(r.normal(0.0, 3.0)), float(rain), float(r.uniform(0.0, 1.0) ** 2)


def local_days(unit: Unit, t_s: float) -> float:
    return (t_s + unit.farm.tz_hours * 3600.0) / DAY


def _blend(unit: Unit, t_s: float, index: int) -> float:
    days = local_days(unit, t_s) - 0.5  # day values sit at local noon
    day = math.floor(days)
    w = days - day
    return (1.0 - w) * _day(unit, day)[index] + w * _day(unit, day + 1)[index]


def ambient_c(unit: Unit, t_s: float) -> float:
    days = local_days(unit, t_s)
    season = 9.0 * math.cos(2.0 * math.pi * (days % 365.25 - 200.0) / 365.25)
    diurnal = 5.0 * math.cos(2.0 * math.pi * (days % 1.0 - 15.0 / 24.0))
    return unit.farm.climate_c + season + diurnal + _blend(unit, t_s, 0)


def rain(unit: Unit, t_s: float) -> float:
    hour = math.floor(local_days(unit, t_s) * 24.0)
    showers = 0.5 + 0.5 * math.sin(hour * 2.399 + unit.seed)  # showers come and go by the hour
    return max(0.0, _blend(unit, t_s, 1) * showers)


def wind(unit: Unit, t_s: float) -> float:
    return _blend(unit, t_s, 2)


def dust(unit: Unit, t_s: float) -> float:
    """0 just after the condenser was brushed clean, 1 just before the next cleaning."""
    days = local_days(unit, t_s) + (unit.seed % 97)
    return (days % unit.farm.dust_days) / unit.farm.dust_days


def head_factor(unit: Unit, t_s: float) -> float:
    """Condensing pressure relative to a clean condenser at 15 C air."""
    return 1.0 + 0.012 * (ambient_c(unit, t_s) - 15.0) + 0.12 * dust(unit, t_s)
