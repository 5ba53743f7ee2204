"""How a unit runs at a moment: the weather (ambient over the day and the week, rain,
wind), the shop's cooling load, the thermostat / pressure-switch cycles with their minimum
run and off times, the inverter's speed, head pressure and the fans following it, start-up
and pump-down, and slow drift (coil fouling, the microphone's ageing gain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway.devtools.rooftop.pieces import rng
from gateway.devtools.rooftop.units import Unit

DAY = 86_400.0
INVERTER_CONTINUOUS_LOAD = 0.45  # below it an inverter at minimum speed still cycles
PUMP_DOWN_S = 40.0
CLEANING_DAYS = 60.0  # the coil is cleaned every two months, fouling again from then
MAX_LOOKBACK_SLOTS = 48


@dataclass(frozen=True)
class Moment:
    running: bool
    since_start_s: float  # how long the current run has lasted (large when off)
    to_stop_s: float  # until it stops (pump-down in the last PUMP_DOWN_S)
    load: float  # 0..1 cooling demand
    ambient_c: float
    head: float  # condensing pressure, 0 (cool, clean coil) .. 1 (hot, fouled)
    shaft_hz: float
    fan_rps: tuple[float, ...]  # 0 for a fan that is not turning
    rain: float  # 0..1
    wind: float  # 0..1 mean wind of the hour
    hour: float  # local
    open: bool  # the shop is open (people, deliveries, kitchen)
    fouling: float  # 0..1
    mic_drift: float  # gain factor of the ageing microphone


def local_hour(unit: Unit, t_s: float) -> float:
    return ((t_s / 3600.0 + unit.utc_offset_h) % 24.0 + 24.0) % 24.0


@lru_cache(maxsize=4096)
def _day_anomaly(unit: Unit, day: int) -> float:
    return float(rng("weather-day", unit.device_id, unit.seed, day).normal(0.0, 3.5))


def ambient_c(unit: Unit, t_s: float) -> float:
    """Mean climate, a warm or cool day (eased between days) and the sun's cycle."""
    local = t_s + unit.utc_offset_h * 3600.0
    day = math.floor(local / DAY)
    frac = local / DAY - day
    anomaly = _day_anomaly(unit, day) * (1 - frac) + _day_anomaly(unit, day + 1) * frac
    diurnal = 5.5 * math.cos(2 * math.pi * (frac * 24.0 - 15.0) / 24.0)
    return unit.climate_c + anomaly + diurnal


def weather(unit: Unit, t_s: float) -> tuple[float, float]:
    """(rain 0..1, wind 0..1) of the hour: a rainy day rains about half of its hours."""
    hour = math.floor(t_s / 3600.0)
    day = math.floor(t_s / DAY)
    rainy_day = rng("rain-day", unit.device_id, unit.seed, day).random() < 0.3
    g = rng("hour-weather", unit.device_id, unit.seed, hour)
    rain = float(g.uniform(0.2, 1.0)) if rainy_day and g.random() < 0.5 else 0.0
    wind = float(min(1.0, g.gamma(2.0, 0.15) + 0.3 * rain))
    return rain, wind


def is_open(unit: Unit, t_s: float) -> bool:
    return 7.0 <= local_hour(unit, t_s) < 22.0


def load_at(unit: Unit, t_s: float) -> float:
    """Cooling demand: the doors and deliveries of opening hours, and the heat outside."""
    amb = ambient_c(unit, t_s)
    base = 0.3 + (0.22 if is_open(unit, t_s) else 0.0) + 0.018 * (amb - 15.0)
    return float(min(1.0, max(0.05, base)))


@lru_cache(maxsize=65536)  # a week of windows asks for the same few hundred slots
def _slot_interval(unit: Unit, slot: int) -> tuple[float, float]:
    """The run inside cycle slot `slot`: (start, stop) epoch s; start == stop: no run."""
    p = unit.period_s
    s0 = unit.cycle_phase_s + slot * p
    load = load_at(unit, s0)
    g = rng("slot", unit.device_id, unit.seed, slot)
    jitter = float(g.normal(0.0, 0.06))
    if unit.pwm_hz and load >= INVERTER_CONTINUOUS_LOAD:
        return s0, s0 + p  # modulating, not cycling
    duty = load / INVERTER_CONTINUOUS_LOAD if unit.pwm_hz else load * 1.15
    if duty + jitter < 0.08:
        return s0, s0  # too little demand this slot: stays off
    duty = min(1 - unit.min_off_s / p, max(unit.min_run_s / p, duty + jitter))
    spare = (1 - duty) * p - unit.min_off_s
    start = s0 + unit.min_off_s / 2 + float(g.random()) * spare
    return start, start + duty * p


def _slot(unit: Unit, t_s: float) -> int:
    return math.floor((t_s - unit.cycle_phase_s) / unit.period_s)


def running_at(unit: Unit, t_s: float) -> bool:
    start, stop = _slot_interval(unit, _slot(unit, t_s))
    return start <= t_s < stop


def _run_bounds(unit: Unit, t_s: float) -> tuple[float, float]:
    """(start, stop) of the run holding t_s, following continuous slots either way."""
    slot = _slot(unit, t_s)
    start, stop = _slot_interval(unit, slot)
    for back in range(1, MAX_LOOKBACK_SLOTS):
        prev = _slot_interval(unit, slot - back)
        if start - prev[1] > 1e-6 or prev[0] == prev[1]:
            break
        start = prev[0]
    for ahead in range(1, 4):
        nxt = _slot_interval(unit, slot + ahead)
        if nxt[0] - stop > 1e-6 or nxt[0] == nxt[1]:
            break
        stop = nxt[1]
    return start, stop


def fouling_at(unit: Unit, t_s: float) -> float:
    """0 just after a cleaning, 1 just before the next: dust, leaves, cottonwood."""
    return ((t_s - unit.clean_s) % (CLEANING_DAYS * DAY)) / (CLEANING_DAYS * DAY)


def mic_drift_at(unit: Unit, t_s: float) -> float:
    """An electret's sensitivity: a slow decline and a temperature wobble (dB)."""
    days = (t_s - unit.clean_s) / DAY
    db = -0.02 * days + 0.6 * math.sin(2 * math.pi * t_s / (9.3 * DAY))
    return 10 ** (db / 20)


def shaft_hz(unit: Unit, load: float, head: float, since_start: float) -> float:
    if not unit.pwm_hz:  # induction motor: slip grows with the torque head pressure asks
        sync = 2 * unit.mains_hz / unit.poles
        return sync * (1 - unit.slip * (0.55 + 0.45 * head))
    frac = max(0.0, (load - INVERTER_CONTINUOUS_LOAD) / (1 - INVERTER_CONTINUOUS_LOAD))
    target = unit.speed_min + (unit.speed_max - unit.speed_min) * frac ** 0.8
    ramp = min(1.0, since_start / 25.0)  # soft start over ~25 s
    return unit.speed_min * 0.8 + (target - unit.speed_min * 0.8) * ramp


def fan_speeds(unit: Unit, amb: float, head: float, running: bool) -> tuple[float, ...]:
    out = []
    for fan in unit.fans:
        if not running or amb < fan.cuts_in_c:
            out.append(0.0)
        elif fan.ec:
            out.append(fan.rps_min + (fan.rps_max - fan.rps_min) * min(1.0, max(0.0, head)))
        else:
            out.append(fan.rps_max)
    return tuple(out)


def moment_at(unit: Unit, t_s: float, running: bool | None = None) -> Moment:
    scheduled = running_at(unit, t_s)
    on = scheduled if running is None else running
    if on and scheduled:
        start, stop = _run_bounds(unit, t_s)
        since, to_stop = t_s - start, stop - t_s
    else:
        since, to_stop = (1e6, 1e6)
    load, amb = load_at(unit, t_s), ambient_c(unit, t_s)
    foul = fouling_at(unit, t_s)
    condensing = amb + 9.0 + 7.0 * foul + 5.0 * load
    head = float(np.clip((condensing - 22.0) / 35.0, 0.0, 1.0))
    rain, wind = weather(unit, t_s)
    return Moment(on, since, to_stop, load, amb, head,
                  shaft_hz(unit, load, head, since) if on else 0.0,
                  fan_speeds(unit, amb, head, on), rain, wind, local_hour(unit, t_s),
                  is_open(unit, t_s), foul, mic_drift_at(unit, t_s))


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    count = int(days * DAY / cadence_s)
    return [(start_s + i * cadence_s, running_at(unit, start_s + i * cadence_s))
            for i in range(count)]
