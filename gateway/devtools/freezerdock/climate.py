"""The world outside the plant room: weather, shifts and condenser fouling, as functions of time.

They drive the slow drift of the healthy sound: the condensing pressure (and so the
compressor's effort and the condenser fans' speed) follows the outdoor temperature and the
fouling of the condenser coil over weeks; the doors, forklifts and trucks follow the shifts.
All are vectorised over time arrays and keyed by the site seed only, so every unit of a site
shares one sky and one shift pattern.
"""

from __future__ import annotations

import numpy as np

from . import seeding

DAY = 86400.0
SHIFT_HOURS = (6.0, 14.0, 22.0)  # early, late and night shifts start


def local_hours(t: np.ndarray, tz_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(hour of day 0-24, weekday 0=Monday) in site local time; 1970-01-01 was a Thursday."""
    local = np.asarray(t, dtype=np.float64) + tz_s
    day = np.floor(local / DAY)
    return (local - day * DAY) / 3600.0, (day.astype(np.int64) + 3) % 7


def outdoor_temp(seed: int, t: np.ndarray, tz_s: float) -> np.ndarray:
    """Outdoor temperature, C: season, a day/night swing, and weather fronts over days."""
    t = np.asarray(t, dtype=np.float64)
    doy = (t / DAY) % 365.25
    season = 10.0 - 9.0 * np.cos(2 * np.pi * (doy - 20.0) / 365.25)
    hour, _ = local_hours(t, tz_s)
    swing = 4.0 + 2.0 * seeding.smooth(seeding.key64(seed, "", "swing"), t / DAY)
    fronts = 4.0 * seeding.smooth(seeding.key64(seed, "", "fronts"), t / (3 * DAY))
    gusts = 1.5 * seeding.smooth(seeding.key64(seed, "", "gusts"), t / 21600.0)
    return season + swing * np.cos(2 * np.pi * (hour - 15.0) / 24.0) + fronts + gusts


def rain(seed: int, t: np.ndarray) -> np.ndarray:
    """Rain intensity 0-1 on the roof: dry most of the time, showers lasting hours."""
    wet = seeding.smooth(seeding.key64(seed, "", "rain"), np.asarray(t, dtype=float) / 14400.0)
    return np.clip((wet - 0.35) * 2.0, 0.0, 1.0)


def activity(t: np.ndarray, tz_s: float) -> np.ndarray:
    """Dock activity 0-1.5: busy day shift, quieter late shift, a skeleton night shift, peaks
    at the shift changes, and a quiet weekend."""
    hour, weekday = local_hours(t, tz_s)
    level = np.where((hour >= 6) & (hour < 14), 1.0, np.where((hour >= 14) & (hour < 22), 0.75,
                                                               0.2))
    for start in SHIFT_HOURS:
        # A handover: trucks queued, everybody moving pallets before and after the bell.
        dist = (hour - start + 12.0) % 24.0 - 12.0
        level = level + 0.5 * np.exp(-0.5 * (dist / 0.3) ** 2)
    weekend = np.where(weekday == 5, 0.6, np.where(weekday == 6, 0.35, 1.0))
    return level * weekend


def fouling(t: np.ndarray, interval_days: float, phase: float) -> np.ndarray:
    """Condenser coil fouling 0-1: dust and pollen build up until the coil is washed."""
    cycles = np.asarray(t, dtype=float) / (interval_days * DAY) + phase
    return cycles - np.floor(cycles)
