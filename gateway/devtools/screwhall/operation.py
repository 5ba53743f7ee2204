"""How a unit runs: its on/off schedule, the slide valve following the load, the VFD's
speed, starts, unloaded idling before a stop, defrosts, shifts and the week's slow drift.

The schedule is a pure function of time: each (unit-local) day is cut into the unit's few
run/off cycles from a generator seeded by the day, so any instant is answered without
replaying history. Every day starts with a run and ends with a stop, each run lasts at least
the unit's minimum run time and each stop its minimum off time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.screwhall.pieces import rng_for
from gateway.devtools.screwhall.units import Unit

DAY_S = 86_400.0
IDLE_BEFORE_STOP_S = 180.0  # unloaded to the slide valve's minimum before the motor stops
LOAD_UP_S = 150.0  # the slide valve loads after a start once the oil pressure is up
SLIDE_MIN = 0.1


@dataclass(frozen=True)
class Moment:
    """The unit's state at one instant."""

    running: bool
    since_start_s: float  # since the motor started (inf when unknown / not running)
    until_stop_s: float
    slide: float  # slide valve position 0.1-1 (capacity at the rotor)
    speed_hz: float  # male rotor speed
    suction: float  # -1 (pulled down after a defrost) .. +1 (a defrost's warm gas return)
    drift: float  # 0 fresh oil and filter .. ~1 a week on, aged and clogged
    mic_gain: float  # multiplier of the microphone's gain, drifts by a dB or so


def _day_segments(unit: Unit, day: int) -> np.ndarray:
    """Start offsets (s into the day) of the day's runs and stops: [on0, off0, on1, ...]."""
    key = ("screwhall-day", unit.device_id, unit.seed, day)
    cached = unit.cache.get(key)
    if cached is not None:
        return cached
    rng = rng_for(*key)
    weekend = (day + 4) % 7 >= 5  # day 0 began on Thursday 1970-01-01
    cycles = max(1, unit.cycles_per_day - (1 if weekend and unit.cycles_per_day > 1 else 0))
    shares = rng.uniform(0.6, 1.4, cycles)
    periods = shares / shares.sum() * DAY_S
    duty = float(np.clip(rng.uniform(0.5, 0.85) - (0.15 if weekend else 0.0), 0.2, 0.95))
    starts = []
    t = 0.0
    for period in periods:
        run = float(np.clip(duty * period, unit.min_run_s, period - unit.min_off_s))
        starts += [t, t + run]
        t += period
    segments = np.array(starts)
    if len(unit.cache) > 4096:
        unit.cache.clear()
    unit.cache[key] = segments
    return segments


def _schedule(unit: Unit, t_s: float) -> tuple[bool, float, float]:
    """(running, seconds since the current segment began, seconds until it ends)."""
    local = t_s - unit.day_offset_s
    day = int(np.floor(local / DAY_S))
    within = local - day * DAY_S
    segments = _day_segments(unit, day)
    i = int(np.searchsorted(segments, within, side="right")) - 1
    running = i % 2 == 0
    end = segments[i + 1] if i + 1 < segments.size else DAY_S
    since = within - segments[i]  # a day's first run follows the previous day's last stop
    return running, float(since), float(end - within)


def running_at(unit: Unit, t_s: float) -> bool:
    return _schedule(unit, t_s)[0]


# Load by local hour: (start, end, level) of the busy hours, and the level outside them.
SHIFTS = {
    "cold_store": ((5.0, 14.0, 0.8), 0.5),  # the docks: doors open while lorries load
    "dairy": ((4.0, 20.0, 0.85), 0.45),  # milk intake, pasteurisers, then CIP
    "meat_plant": ((6.0, 22.0, 0.85), 0.35),  # two shifts, sanitation at night
    "ice_rink": ((15.0, 23.0, 0.9), 0.5),  # skating sessions, resurfacing water to freeze
}


def local_hour(unit: Unit, t_s: float) -> float:
    return ((t_s / 3600.0) + unit.utc_offset_h) % 24.0


def demand(unit: Unit, t_s: float) -> float:
    """Refrigeration demand 0-1 of the plant share this unit carries: the site's shifts,
    weekends, defrost recoveries and the controller's wandering."""
    (start, end, busy), quiet = SHIFTS[unit.site]
    hour = local_hour(unit, t_s)
    level = busy if start <= hour < end else quiet
    weekend = int(((t_s / 3600.0 + unit.utc_offset_h) // 24 + 4) % 7) >= 5  # 1970-01-01: Thu
    if weekend:
        level += 0.1 if unit.site == "ice_rink" else -0.15
    ripple = 0.12 * np.sin(2 * np.pi * t_s / 2_300.0 + unit.seed) + \
        0.08 * np.sin(2 * np.pi * t_s / 610.0 + 1.3 * unit.seed)
    return float(np.clip(level + ripple + 0.2 * suction_swing(unit, t_s), 0.0, 1.0))


def suction_swing(unit: Unit, t_s: float) -> float:
    """A defrost (about an hour every few hours): the suction pressure rises as the warm
    coil comes back on line and the room pulls down, then dips as the controller overshoots;
    -1..+1."""
    period = unit.defrost_every_h * 3600.0
    phase = ((t_s + unit.day_offset_s) % period) / 3600.0
    if phase < 0.75:
        return float(np.sin(np.pi * phase / 0.75))
    if phase < 1.5:
        return float(-0.5 * np.sin(np.pi * (phase - 0.75) / 0.75))
    return 0.0


def _drift(unit: Unit, t_s: float) -> float:
    """Oil ageing and the oil filter clogging over a week, reset by a service."""
    period = 9.0 * DAY_S
    return float(((t_s + unit.day_offset_s * 3) % period) / period * 1.1)


def slide_and_speed(unit: Unit, capacity: float) -> tuple[float, float]:
    """A VFD unit holds the slide full and trims speed, unloading the slide only below its
    lowest speed; a fixed-speed unit's slide valve carries all the capacity control."""
    capacity = float(np.clip(capacity, SLIDE_MIN, 1.0))
    if unit.fixed_speed:  # the motor's slip grows with the shaft torque
        slip_full = unit.mains_hz - unit.speed_max_hz
        return capacity, unit.mains_hz - slip_full * (0.3 + 0.7 * capacity)
    floor = unit.speed_min_hz / unit.speed_max_hz
    if capacity >= floor:
        return 1.0, unit.speed_max_hz * capacity
    return max(SLIDE_MIN, capacity / floor), unit.speed_min_hz


def moment(unit: Unit, t_s: float, running: bool | None = None) -> Moment:
    sched_running, since, until = _schedule(unit, t_s)
    on = sched_running if running is None else running
    gain = float(10 ** ((0.6 * np.sin(2 * np.pi * t_s / (6.3 * DAY_S) + unit.seed)) / 20))
    swing = suction_swing(unit, t_s)
    if not on:
        return Moment(False, float("inf"), 0.0, 0.0, 0.0, swing, _drift(unit, t_s), gain)
    if not sched_running:  # forced on by the caller: an ordinary loaded run
        since, until = float("inf"), float("inf")
    capacity = demand(unit, t_s)
    if since < LOAD_UP_S:
        capacity = SLIDE_MIN + (capacity - SLIDE_MIN) * max(0.0, since - 30.0) / LOAD_UP_S
    if until < IDLE_BEFORE_STOP_S:
        capacity = SLIDE_MIN
    slide, speed = slide_and_speed(unit, capacity)
    slide = round(slide * 50) / 50  # the slide moves in solenoid pulses: 2 % steps
    return Moment(True, since, until, slide, speed, swing, _drift(unit, t_s), gain)


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:
    count = int(days * DAY_S / cadence_s)
    times = start_s + cadence_s * np.arange(count)
    return [(float(t), running_at(unit, float(t))) for t in times]
