"""How a unit runs over time: the room thermostat's on/off cycles (longer on-times in working
hours, when doors open, and on warm days), defrosts (compressor and evaporator fans stopped,
then a pull-down), the load (suction pressure: high after a start, falling as the room cools,
higher on warm afternoons), and the slow drift over days (wear-in of a new machine, weather).
Everything is a function of the time, so a window is the same whenever it is asked for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Duty:
    period_s: float  # one thermostat cycle, on + off
    on_fraction: float  # its mean on share
    offset_s: float
    defrost_every_s: float
    defrost_s: float
    pulldown_s: float  # forced run after a defrost
    base_load: float  # steady load (1 = rated torque)
    utc_offset_h: float  # the site's local time, for working hours
    commissioned_s: float  # when the unit went into service (wear-in starts)


@dataclass(frozen=True)
class State:
    running: bool
    defrosting: bool
    since_start_s: float  # how long the compressor has run (0 when off)
    load: float
    wear: float  # level factor from wear-in and ageing (1 = run in)
    ambient: float  # -1..1, cooler to warmer than usual


def _cycle_jitter(k: float, salt: float) -> float:
    """A repeatable number in -1..1 per thermostat cycle (a cheap hash of the cycle index)."""
    x = np.sin(k * 12.9898 + salt * 78.233) * 43758.5453
    return float(2.0 * (x - np.floor(x)) - 1.0)


def working_hours(duty: Duty, t_s: float) -> float:
    """1 on weekday working hours (doors, loading), 0 otherwise, with soft edges."""
    local_h = ((t_s / 3600.0 + duty.utc_offset_h) % 24.0)
    weekday = int(((t_s / 86_400.0 + duty.utc_offset_h / 24.0) + 3) % 7) < 5  # 1970-01-01: Thu
    if not weekday:
        return 0.2
    return float(1.0 / (1 + np.exp(-(local_h - 7.0) * 2)) / (1 + np.exp((local_h - 18.0) * 2)))


def ambient(duty: Duty, t_s: float) -> float:
    local_h = ((t_s / 3600.0 + duty.utc_offset_h) % 24.0)
    daily = np.cos(2 * np.pi * (local_h - 15.0) / 24.0)
    days = t_s / 86_400.0
    weather = np.sin(2 * np.pi * days / 3.1 + duty.offset_s) * 0.6 + np.sin(
        2 * np.pi * days / 5.3 + 2 * duty.offset_s) * 0.4
    return float(0.6 * daily + 0.4 * weather)


def _defrost(duty: Duty, t_s: float) -> tuple[bool, float]:
    """(in a defrost, seconds since the last defrost ended)."""
    phase = (t_s - duty.offset_s) % duty.defrost_every_s
    return phase < duty.defrost_s, phase - duty.defrost_s


def running_at(duty: Duty, t_s: float) -> bool:
    defrosting, after = _defrost(duty, t_s)
    if defrosting:
        return False
    if after < duty.pulldown_s:
        return True
    k = np.floor((t_s - duty.offset_s) / duty.period_s)
    phase = (t_s - duty.offset_s) - k * duty.period_s
    share = duty.on_fraction + 0.12 * working_hours(duty, t_s) + 0.08 * ambient(duty, t_s)
    share = float(np.clip(share + 0.07 * _cycle_jitter(k, duty.offset_s), 0.25, 0.93))
    return phase < share * duty.period_s


def since_start(duty: Duty, t_s: float) -> float:
    """Seconds the compressor has been running at t_s (0 when off), stepping back 20 minutes
    at most: beyond that the pull-down after a start is over."""
    if not running_at(duty, t_s):
        return 0.0
    step = 15.0
    back = 0.0
    while back < 1200.0 and running_at(duty, t_s - back - step):
        back += step
    return back + step / 2


def state_at(duty: Duty, t_s: float) -> State:
    running = running_at(duty, t_s)
    defrosting, _ = _defrost(duty, t_s)
    ran = since_start(duty, t_s) if running else 0.0
    warm = ambient(duty, t_s)
    load = duty.base_load * (1 + 0.35 * np.exp(-ran / 300.0)) * (1 + 0.08 * warm)
    days = max(0.0, (t_s - duty.commissioned_s) / 86_400.0)
    wear = 1.0 + 0.12 * np.exp(-days / 4.0) + 0.004 * days  # run-in settles, ageing creeps
    return State(running, defrosting, ran, float(np.clip(load, 0.3, 1.25)), float(wear), warm)


def transition_in(duty: Duty, t_s: float, seconds: float) -> float | None:
    """Seconds into [t_s, t_s + seconds) at which the compressor starts or stops, if it does
    (found by bisection on the on/off rule)."""
    before, after = running_at(duty, t_s), running_at(duty, t_s + seconds)
    if before == after:
        return None
    lo, hi = 0.0, seconds
    for _ in range(12):
        mid = (lo + hi) / 2
        if running_at(duty, t_s + mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def draw_duty(rng: np.random.Generator, epoch_s: float) -> Duty:
    return Duty(float(rng.uniform(900, 2400)), float(rng.uniform(0.4, 0.65)),
                float(rng.uniform(0, 86_400)), float(rng.choice([6, 8, 12]) * 3600),
                float(rng.uniform(1200, 2100)), float(rng.uniform(300, 900)),
                float(rng.uniform(0.55, 0.85)), float(rng.choice([-5, 0, 1, 2, 8])),
                float(epoch_s - rng.uniform(0, 30) * 86_400))
