"""A window's operating point: speeds, pressures and what runs, from the schedule and the weather.

Head pressure follows the condensing temperature: outdoor air plus the coil's approach, which
grows with load and with coil fouling and shrinks as fans stage on. A hotter head slows the
induction motor a little (more slip) and makes valves slam harder. Condenser fans stage on
head pressure: fixed fans switch on one by one, two-speed fans go from low to high, EC fans
follow continuously. On cold days head-pressure control holds a minimum condensing temperature,
so the machine's sound drifts mostly in warm weather and as the coil fouls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .keys import unit_interval
from .schedule import ALWAYS_ON, cycle_at, demand
from .unit import Unit
from .week import Activity, activity_at, ambient_c, fouling

HEAD_FLOOR_C = 27.0  # head-pressure control keeps condensing this warm on cold days (TXV feed)


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    running: bool
    duty: float
    since_change_s: float  # since the compressor last started (running) or stopped
    ambient_c: float
    fouling: float  # condenser coil, 0 just cleaned .. 1 due for cleaning
    head: float  # discharge pressure, 0 (cold, clean) .. 1 (hot day, dirty coil)
    shaft_hz: float
    partner_running: bool  # the tandem compressor beside the monitored one
    partner_hz: float
    fan_speeds: tuple[float, ...]  # fraction of full speed per fan, 0 = off
    activity: Activity


def _fan_speeds(unit: Unit, need: float, running: bool) -> tuple[float, ...]:
    if not running:
        return (0.0,) * unit.fans
    if unit.fan_drive == "ec":
        return (float(np.clip(need, 0.3, 1.0)),) * unit.fans
    if unit.fan_drive == "two_speed":
        speed = 0.7 if need < 0.55 else 1.0
        return (speed,) + tuple(speed if need > 0.85 else 0.0 for _ in range(unit.fans - 1))
    on = max(1, math.ceil(need * unit.fans - 1e-9))
    return tuple(1.0 if i < on else 0.0 for i in range(unit.fans))


def operating_point(unit: Unit, t_s: float, running: bool | None = None) -> OperatingPoint:
    """The operating point at t_s; running overrides the schedule (a forced or blocked start)."""
    cycle = cycle_at(unit, t_s)
    run = cycle.running if running is None else bool(running)
    since = cycle.since_change_s if run == cycle.running else 3_600.0
    ambient = ambient_c(unit.seed, t_s)
    dirt = fouling(unit_interval("fouling", unit.device_id, unit.seed) * unit.fouling_days,
                   unit.fouling_days, t_s)
    need = float(np.clip((ambient - 4.0) / 26.0 + 0.2 * cycle.duty + 0.3 * dirt, 0.1, 1.0))
    fans = _fan_speeds(unit, need, run)
    airflow = sum(fans) / unit.fans if run else 1.0
    approach = (9.0 + 6.0 * cycle.duty) * (1.0 + 0.7 * dirt) / (0.5 + 0.5 * airflow)
    condensing = max(ambient + approach, HEAD_FLOOR_C)
    head = float(np.clip((condensing - 20.0) / 35.0, 0.0, 1.0))
    slip = unit.slip * (0.7 + 0.6 * head)
    partner = unit.tandem and run and demand(unit, t_s) > 0.85 * ALWAYS_ON
    return OperatingPoint(
        running=run, duty=cycle.duty, since_change_s=since, ambient_c=ambient, fouling=dirt,
        head=head, shaft_hz=unit.sync_hz * (1.0 - slip),
        partner_running=partner, partner_hz=unit.sync_hz * (1.0 - 1.15 * slip),
        fan_speeds=fans, activity=activity_at(unit.seed, t_s),
    )
